package graphdrivertest

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/builtin/overlayfs"
	"github.com/berth-dev/berth/sdk/graphdriver"
)

// newOverlayfs returns the built-in overlayfs driver with a fresh home.
func newOverlayfs(t *testing.T) graphdriver.Driver {
	t.Helper()
	d := overlayfs.New()
	if err := d.Configure(context.Background(), map[string]string{"home": t.TempDir()}); err != nil {
		t.Fatalf("configure overlayfs: %v", err)
	}
	return d
}

func TestBuiltinOverlayfs(t *testing.T) {
	Suite(t, func(t *testing.T) (graphdriver.Driver, func()) {
		return newOverlayfs(t), func() {}
	})
}

func TestBuiltinOverlayfsOverGRPC(t *testing.T) {
	Suite(t, func(t *testing.T) (graphdriver.Driver, func()) {
		return DialInMemory(t, newOverlayfs(t))
	})
}
