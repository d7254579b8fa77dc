package runtimetest

import (
	"testing"

	"github.com/berth-dev/berth/plugin-tests/internal/dial"
	"github.com/berth-dev/berth/sdk"
	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/runtime"
)

// Environment variables of TestBinary.
const (
	BinaryEnv = dial.BinaryEnv
	ConfigEnv = dial.ConfigEnv
)

// DialBinary starts the plugin binary at path the way berthd does (go-plugin
// gRPC with AutoMTLS and sdk.Handshake), dispenses its runtime and configures
// it with config. The returned function stops the plugin. It skips the test
// when the binary does not serve this kind.
func DialBinary(t *testing.T, path string, config map[string]string) (runtime.Runtime, func()) {
	t.Helper()
	return dial.Binary[runtime.Runtime](t, path, base.KindRuntime, config)
}

// DialInMemory serves impl over go-plugin's in-memory gRPC connection and
// returns the client side, as berthd would see impl from a plugin process.
func DialInMemory(t *testing.T, impl runtime.Runtime) (runtime.Runtime, func()) {
	t.Helper()
	return dial.InMemory[runtime.Runtime](t, base.KindRuntime, sdk.Plugins{Runtime: impl})
}

// ConfigFromEnv reads ConfigEnv for one case, with "$ROOT" replaced by a
// fresh temporary directory.
func ConfigFromEnv(t *testing.T) map[string]string { return dial.ConfigFromEnv(t) }
