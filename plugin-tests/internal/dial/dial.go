// Package dial connects the conformance suites to a plugin: a binary started
// the way berthd starts one, or an implementation served over go-plugin's
// in-memory gRPC connection. Every kind's suite uses it the same way.
package dial

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/berth-dev/berth/sdk"
	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
)

// Environment variables of the suites' TestBinary.
const (
	// BinaryEnv names the plugin binary TestBinary runs the suite against.
	BinaryEnv = "BERTH_PLUGIN_TEST_BINARY"
	// ConfigEnv holds the Configure settings as a JSON object of strings.
	// "$ROOT" in a value is replaced by a fresh temporary directory per case.
	ConfigEnv = "BERTH_PLUGIN_TEST_CONFIG"
)

// Binary starts the plugin binary at path the way berthd does (go-plugin
// gRPC with AutoMTLS and sdk.Handshake), dispenses kind as T and configures
// it with config. The returned function stops the plugin. It skips the test
// when the binary does not serve kind.
func Binary[T base.Plugin](t *testing.T, path string, kind base.Kind, config map[string]string) (T, func()) {
	t.Helper()
	var zero T
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.ClientPluginSet(),
		Cmd:              exec.Command(path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		// The plugin's relayed log goes to stderr, not t.Log: go-plugin may
		// relay a last line after the case has ended.
		Logger: hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Info, Output: os.Stderr}),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		t.Fatalf("start plugin %s: %v", path, err)
		return zero, nil
	}
	raw, err := rpc.Dispense(string(kind))
	if err != nil {
		client.Kill()
		t.Fatalf("dispense %s from %s: %v", kind, path, err)
		return zero, nil
	}
	impl := raw.(T)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := impl.Info(ctx); errors.Is(err, errdefs.ErrNotFound) {
		client.Kill()
		t.Skipf("%s does not serve %s", path, kind)
	}
	if err := impl.Configure(ctx, config); err != nil {
		client.Kill()
		t.Fatalf("Configure %s: %v", path, err)
	}
	return impl, client.Kill
}

// InMemory serves p over go-plugin's in-memory gRPC connection and returns
// the client side of kind, as berthd would see it from a plugin process.
func InMemory[T base.Plugin](t *testing.T, kind base.Kind, p sdk.Plugins) (T, func()) {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, sdk.ServerPluginSet(p))
	raw, err := client.Dispense(string(kind))
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(T), func() {
		client.Close()
		server.Stop()
	}
}

// ConfigFromEnv reads ConfigEnv for one case, with "$ROOT" replaced by a
// fresh temporary directory.
func ConfigFromEnv(t *testing.T) map[string]string {
	t.Helper()
	config := map[string]string{}
	if raw := os.Getenv(ConfigEnv); raw != "" {
		if err := json.Unmarshal([]byte(raw), &config); err != nil {
			t.Fatalf("%s is not a JSON object of strings: %v", ConfigEnv, err)
		}
	}
	var root string
	for k, v := range config {
		if strings.Contains(v, "$ROOT") {
			if root == "" {
				root = t.TempDir()
			}
			config[k] = strings.ReplaceAll(v, "$ROOT", root)
		}
	}
	return config
}
