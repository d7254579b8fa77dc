package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	graphdrivertest "github.com/berth-dev/berth/plugin-tests/graphdriver"
	"github.com/berth-dev/berth/sdk/graphdriver"
)

// newDriver returns a Driver configured with a fresh home, and a release
// function that unmounts whatever a failed case left mounted, so that
// t.TempDir can remove the home.
func newDriver(t *testing.T) (*Driver, func()) {
	t.Helper()
	home := t.TempDir()
	d := New()
	if err := d.Configure(context.Background(), map[string]string{"home": home}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	release := func() {
		mnts, _ := filepath.Glob(filepath.Join(home, "*", mntDir))
		for _, mnt := range mnts {
			if mounted, _ := mountinfo.Mounted(mnt); mounted {
				t.Errorf("%s is still mounted after the case", mnt)
				_ = unix.Unmount(mnt, unix.MNT_DETACH)
			}
		}
	}
	return d, release
}

// TestConformance runs the graph driver suite against the Driver directly.
func TestConformance(t *testing.T) {
	graphdrivertest.Suite(t, func(t *testing.T) (graphdriver.Driver, func()) {
		return newDriver(t)
	})
}

// TestConformanceOverGRPC runs the suite through the SDK's gRPC shims, as
// berthd sees the plugin, so errors must keep their class on the wire.
func TestConformanceOverGRPC(t *testing.T) {
	graphdrivertest.Suite(t, func(t *testing.T) (graphdriver.Driver, func()) {
		d, release := newDriver(t)
		client, stop := graphdrivertest.DialInMemory(t, d)
		return client, func() { stop(); release() }
	})
}

// TestHoldersSurviveRestart checks what the suite cannot: a new Driver on the
// same home (a restarted plugin) keeps the holders of a live mount, so one
// holder leaving does not pull the mount from under another.
func TestHoldersSurviveRestart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	ctx := context.Background()
	d, release := newDriver(t)
	t.Cleanup(release)
	if err := d.Create(ctx, "l", "", true); err != nil {
		t.Fatal(err)
	}
	mnt, err := d.Mount(ctx, "l", "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Mount(ctx, "l", "b"); err != nil {
		t.Fatal(err)
	}
	restarted := New()
	if err := restarted.Configure(ctx, map[string]string{"home": d.home}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a", "b"} { // the kernel re-declares its holders
		if got, err := restarted.Mount(ctx, "l", h); err != nil || got != mnt {
			t.Fatalf("re-Mount for %s = %q, %v; want %q", h, got, err, mnt)
		}
	}
	if err := restarted.Unmount(ctx, "l", "a"); err != nil {
		t.Fatal(err)
	}
	if mounted, _ := mountinfo.Mounted(mnt); !mounted {
		t.Fatal("unmounted although b still holds the layer")
	}
	if err := restarted.Unmount(ctx, "l", "b"); err != nil {
		t.Fatal(err)
	}
	if mounted, _ := mountinfo.Mounted(mnt); mounted {
		t.Error("still mounted after the last holder left")
	}
}
