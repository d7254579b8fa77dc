package graphdrivertest

import (
	"os"
	"testing"

	"github.com/berth-dev/berth/sdk/graphdriver"
)

// TestBinary runs the suite against the plugin binary named by
// BERTH_PLUGIN_TEST_BINARY, configured from BERTH_PLUGIN_TEST_CONFIG, e.g.
//
//	BERTH_PLUGIN_TEST_BINARY=./myplugin BERTH_PLUGIN_TEST_CONFIG='{"home":"$ROOT"}' \
//		go test ./plugin-tests/graphdriver -run TestBinary
func TestBinary(t *testing.T) {
	path := os.Getenv(BinaryEnv)
	if path == "" {
		t.Skipf("set %s to a plugin binary to run the suite against it", BinaryEnv)
	}
	Suite(t, func(t *testing.T) (graphdriver.Driver, func()) {
		return DialBinary(t, path, ConfigFromEnv(t))
	})
}
