package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/e2e/harness"
)

// TestThirdPartyRuntimeFromManifest runs containers through a runtime plugin
// that berthd knows only from a manifest in --plugin-dir, launched as a
// separate executable whose sha256 the manifest pins. (The executable is a
// wrapper around the built-in containerd plugin: what matters here is the
// path a third-party plugin takes, not its insides.)
func TestThirdPartyRuntimeFromManifest(t *testing.T) {
	needE2E(t)
	registry(t)
	d, err := harness.NewDaemon(binDir)
	if err != nil {
		t.Fatal(err)
	}
	pluginDir := filepath.Join(d.Dir, "plugins.d")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(d.Dir, "altrt")
	script := "#!/bin/sh\nexec " + filepath.Join(binDir, "berthd") + " plugin serve containerd\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(script))
	manifest := map[string]any{
		"name":   "altrt",
		"kinds":  []string{"berth.runtime.v1"},
		"path":   wrapper,
		"sha256": hex.EncodeToString(sum[:]),
		// The managed containerd where the harness stops it.
		"config": map[string]string{
			"daemon-id": "altrt-e2e",
			"namespace": "berth",
			"root":      filepath.Join(d.Root, "containerd"),
			"state":     filepath.Join(d.ExecRoot, "containerd"),
		},
	}
	data, _ := json.Marshal(manifest)
	if err := os.WriteFile(filepath.Join(pluginDir, "altrt.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	d.Args = []string{"--plugin-dir", pluginDir, "--default-runtime", "altrt"}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		logs := logTail(d)
		d.Cleanup()
		t.Fatalf("start berthd with a manifest runtime: %v\n%s", err, logs)
	}
	t.Cleanup(func() {
		logs := logTail(d)
		if err := teardown(d); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if t.Failed() {
			t.Logf("berthd log:\n%s", logs)
		}
	})

	var plugins []string
	for _, pid := range childrenOf(d.Pid()) {
		plugins = append(plugins, procCmdline(pid))
	}
	if !strings.Contains(strings.Join(plugins, "\n"), "plugin serve containerd") || len(plugins) != 2 {
		t.Errorf("plugin processes %q, want the manifest's runtime and overlayfs", plugins)
	}
	if err := pull(ctx, d, busyboxRef); err != nil {
		t.Fatal(err)
	}
	res, err := runContainer(ctx, apiClient(t, d), "", &container.Config{Image: busyboxRef, Cmd: []string{"sh", "-c", "echo via-manifest; exit 4"}}, &container.HostConfig{AutoRemove: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "via-manifest\n" || res.ExitCode != 4 {
		t.Errorf("run through the manifest runtime: stdout %q exit %d, want \"via-manifest\\n\" and 4", res.Stdout, res.ExitCode)
	}
	info, _, code := berth(t, d, "info")
	if code != 0 || !strings.Contains(info, "altrt") {
		t.Errorf("berth info does not name the runtime plugin altrt:\n%s", info)
	}
}
