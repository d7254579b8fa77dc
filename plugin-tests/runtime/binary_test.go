package runtimetest

import (
	"os"
	"testing"

	"github.com/berth-dev/berth/sdk/runtime"
)

// TestBinary runs the suite against the plugin binary named by
// BERTH_PLUGIN_TEST_BINARY, configured from BERTH_PLUGIN_TEST_CONFIG, e.g.
//
//	BERTH_PLUGIN_TEST_BINARY=./myplugin BERTH_PLUGIN_TEST_CONFIG='{"address":"/run/containerd/containerd.sock"}' \
//		go test ./plugin-tests/runtime -run TestBinary
func TestBinary(t *testing.T) {
	path := os.Getenv(BinaryEnv)
	if path == "" {
		t.Skipf("set %s to a plugin binary to run the suite against it", BinaryEnv)
	}
	Suite(t, func(t *testing.T) (runtime.Runtime, func()) {
		return DialBinary(t, path, ConfigFromEnv(t))
	})
}
