package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
)

func writeManifest(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseManifest(t *testing.T) {
	good := `{"name":"x","kinds":["berth.runtime.v1","berth.graphdriver.v1"],"path":"/abs/bin","args":["-v"],"sha256":"` +
		strings.Repeat("AB", 32) + `"}`
	m, err := ParseManifest([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "x" || len(m.Kinds) != 2 || m.Kinds[1] != base.KindGraphDriver || m.Args[0] != "-v" ||
		m.SHA256 != strings.Repeat("ab", 32) {
		t.Fatalf("parsed %+v", m)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `{`, "decode manifest"},
		{"unknown field", `{"name":"x","kinds":["berth.runtime.v1"],"path":"/a","sha265":""}`, "unknown field"},
		{"bad name", `{"name":"X Y","kinds":["berth.runtime.v1"],"path":"/a"}`, "plugin name"},
		{"no kinds", `{"name":"x","kinds":[],"path":"/a"}`, "declares no kinds"},
		{"unknown kind", `{"name":"x","kinds":["berth.nope.v1"],"path":"/a"}`, "unknown kind"},
		{"twice", `{"name":"x","kinds":["berth.runtime.v1","berth.runtime.v1"],"path":"/a"}`, "listed twice"},
		{"relative path", `{"name":"x","kinds":["berth.runtime.v1"],"path":"bin/x"}`, "must be absolute"},
		{"short sha", `{"name":"x","kinds":["berth.runtime.v1"],"path":"/a","sha256":"abcd"}`, "64 hex"},
		{"trailing", `{"name":"x","kinds":["berth.runtime.v1"],"path":"/a"} {}`, "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want invalid argument containing %q", err, tc.want)
			}
		})
	}
	// A kind the host cannot proxy yet is refused as unimplemented.
	_, err = ParseManifest([]byte(`{"name":"x","kinds":["berth.volume.v1"],"path":"/a"}`))
	if !errors.Is(err, errdefs.ErrUnimplemented) {
		t.Fatalf("volume kind: %v", err)
	}
}

func TestLoadManifestsKeepsGoodOnes(t *testing.T) {
	h, _ := newTestHost(t, nil)
	if err := h.Register(BuiltinSpec{Name: "builtin", Kinds: []base.Kind{base.KindRuntime}}); err != nil {
		t.Fatal(err)
	}
	dir := h.cfg.PluginDir
	writeManifest(t, dir, "b-good", fmt.Sprintf(`{"name":"good","kinds":["berth.runtime.v1"],"path":%q}`, testPluginBin))
	writeManifest(t, dir, "a-bad", `{"name":"bad","kinds":["berth.runtime.v1"],"path":"relative"}`)
	writeManifest(t, dir, "c-clash", fmt.Sprintf(`{"name":"builtin","kinds":["berth.runtime.v1"],"path":%q}`, testPluginBin))
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a manifest"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := h.LoadManifests()
	if err == nil || !strings.Contains(err.Error(), "a-bad.json") || !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("LoadManifests: %v", err)
	}
	sts := h.Plugins()
	if len(sts) != 2 || sts[0].Name != "builtin" || sts[1].Name != "good" || sts[1].Builtin {
		t.Fatalf("plugins %+v", sts)
	}
	// The third-party plugin runs from its own path (args from the manifest).
	if err := h.Start(context.Background(), "good"); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, h, "good"); st.Pid == 0 {
		t.Fatalf("status %+v", st)
	} else if exe, err := procExe(st.Pid); err != nil || exe != testPluginBin {
		t.Fatalf("plugin runs %q (%v), want %q", exe, err, testPluginBin)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hash := sha256.New()
	if _, err := io.Copy(hash, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(hash.Sum(nil))
}

func TestManifestSHA256(t *testing.T) {
	h, rec := newTestHost(t, nil)
	dir := h.cfg.PluginDir
	writeManifest(t, dir, "wrong", fmt.Sprintf(`{"name":"wrong","kinds":["berth.runtime.v1"],"path":%q,"sha256":%q}`,
		testPluginBin, strings.Repeat("0", 64)))
	writeManifest(t, dir, "right", fmt.Sprintf(`{"name":"right","kinds":["berth.runtime.v1"],"path":%q,"sha256":%q}`,
		testPluginBin, fileSHA256(t, testPluginBin)))
	if err := h.LoadManifests(); err != nil {
		t.Fatal(err)
	}
	err := h.Start(context.Background(), "wrong")
	if err == nil || !strings.Contains(err.Error(), "sha256 does not match") || !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("mismatching sha256: %v", err)
	}
	if st := statusOf(t, h, "wrong"); st.Pid != 0 || st.State != StateFailed {
		t.Fatalf("refused plugin status %+v", st)
	}
	if ev, ok := rec.event(ActionFail); !ok || ev.Name != "wrong" {
		t.Fatalf("fail event %+v %v", ev, ok)
	}
	if err := h.Start(context.Background(), "right"); err != nil {
		t.Fatalf("matching sha256: %v", err)
	}
}
