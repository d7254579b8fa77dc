package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite testdata/*.spec.json from Build's output")

// goldenInput is the JSON form of a golden case: Input without the fs.FS.
type goldenInput struct {
	ID          string
	Image       ImageConfig
	Config      *container.Config
	HostConfig  *container.HostConfig
	Rootfs      string
	NetnsPath   string
	Mounts      []specs.Mount
	HostDevices []specs.LinuxDevice
}

// TestGolden builds the spec of every testdata/*.input.json (passwd and group
// from testdata/rootfs) and compares it with the matching .spec.json.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.input.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 4 {
		t.Fatalf("expected at least 4 golden inputs, found %d", len(inputs))
	}
	for _, inPath := range inputs {
		name := strings.TrimSuffix(filepath.Base(inPath), ".input.json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(inPath)
			if err != nil {
				t.Fatal(err)
			}
			var gi goldenInput
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&gi); err != nil {
				t.Fatalf("decode %s: %v", inPath, err)
			}
			s, err := Build(Input{
				ID: gi.ID, Image: gi.Image, Config: gi.Config, HostConfig: gi.HostConfig,
				Rootfs: gi.Rootfs, RootfsFiles: os.DirFS("testdata/rootfs"),
				NetnsPath: gi.NetnsPath, Mounts: gi.Mounts, HostDevices: gi.HostDevices,
			})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got, err := json.MarshalIndent(s, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			want := filepath.Join("testdata", name+".spec.json")
			if *update {
				if err := os.WriteFile(want, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test ./kernel/spec -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, exp) {
				t.Errorf("spec differs from %s (rerun with -update after checking the change):\n%s", want, lineDiff(string(exp), string(got)))
			}
		})
	}
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + itoa(int64(i+1)) + "\n- " + wl + "\n+ " + gl + "\n")
			if n++; n == 10 {
				break
			}
		}
	}
	return b.String()
}
