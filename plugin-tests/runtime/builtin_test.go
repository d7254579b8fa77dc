package runtimetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/builtin/containerd"
	"github.com/berth-dev/berth/sdk/runtime"
)

// managedContainerd gives the test one containerd managed by the builtin
// under a short temporary directory (unix socket paths are limited to 108
// bytes) and stops it when the test ends. Each case gets its own namespace.
func managedContainerd(t *testing.T) func(t *testing.T) *containerd.Runtime {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	if _, err := os.Stat("/usr/bin/containerd"); err != nil {
		t.Skip("needs /usr/bin/containerd")
	}
	dir, err := os.MkdirTemp("", "brt-")
	if err != nil {
		t.Fatal(err)
	}
	root, state := filepath.Join(dir, "root"), filepath.Join(dir, "state")
	t.Cleanup(func() {
		// The cases have deleted their tasks, so no shim is left.
		if err := containerd.StopManaged(root, state); err != nil {
			t.Errorf("stop managed containerd: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	n := 0
	return func(t *testing.T) *containerd.Runtime {
		t.Helper()
		n++
		rt := containerd.New()
		err := rt.Configure(context.Background(), map[string]string{
			containerd.KeyRoot:      root,
			containerd.KeyState:     state,
			containerd.KeyDaemonID:  "suite",
			containerd.KeyNamespace: "suite-" + string(rune('a'+n)),
		})
		if err != nil {
			t.Fatalf("configure the containerd runtime: %v", err)
		}
		return rt
	}
}

func TestBuiltinContainerd(t *testing.T) {
	newRuntime := managedContainerd(t)
	Suite(t, func(t *testing.T) (runtime.Runtime, func()) {
		rt := newRuntime(t)
		return rt, func() { _ = rt.Close() }
	})
}

func TestBuiltinContainerdOverGRPC(t *testing.T) {
	newRuntime := managedContainerd(t)
	Suite(t, func(t *testing.T) (runtime.Runtime, func()) {
		rt := newRuntime(t)
		client, release := DialInMemory(t, rt)
		return client, func() {
			release()
			_ = rt.Close()
		}
	})
}
