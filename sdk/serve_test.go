package sdk_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/berth-dev/berth/sdk"
	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/graphdriver"
	"github.com/berth-dev/berth/sdk/runtime"
)

// servePluginEnv makes the test binary act as a plugin serving both kinds,
// so Serve is tested in a real child process.
const servePluginEnv = "BERTH_SDK_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(servePluginEnv) == "1" {
		sdk.Serve(fakePlugins())
	}
	os.Exit(m.Run())
}

func fakePlugins() sdk.Plugins {
	return sdk.Plugins{
		Runtime: &runtime.Fake{InfoFunc: func(context.Context) (base.Info, error) {
			return base.Info{Name: "fake-runtime", Kind: base.KindRuntime}, nil
		}},
		GraphDriver: &graphdriver.Fake{InfoFunc: func(context.Context) (base.Info, error) {
			return base.Info{Name: "fake-graphdriver", Kind: base.KindGraphDriver}, nil
		}},
	}
}

// checkBothKinds dispenses both kinds from one plugin connection and checks
// that each base call reaches its own kind's implementation.
func checkBothKinds(t *testing.T, dispense func(string) (interface{}, error)) {
	t.Helper()
	ctx := context.Background()
	raw, err := dispense(string(base.KindRuntime))
	if err != nil {
		t.Fatal(err)
	}
	rt := raw.(runtime.Runtime)
	raw, err = dispense(string(base.KindGraphDriver))
	if err != nil {
		t.Fatal(err)
	}
	gd := raw.(graphdriver.Driver)
	if info, err := rt.Info(ctx); err != nil || info.Name != "fake-runtime" {
		t.Errorf("runtime Info = %+v, %v", info, err)
	}
	if info, err := gd.Info(ctx); err != nil || info.Name != "fake-graphdriver" {
		t.Errorf("graphdriver Info = %+v, %v", info, err)
	}
	if _, err := rt.State(ctx, "x"); !errors.Is(err, errdefs.ErrUnimplemented) {
		t.Errorf("unimplemented State = %v", err)
	}
}

func TestOneServerServesSeveralKinds(t *testing.T) {
	client, server := plugin.TestPluginGRPCConn(t, false, sdk.ServerPluginSet(fakePlugins()))
	defer server.Stop()
	defer client.Close()
	checkBothKinds(t, client.Dispense)
}

func TestServerPluginSetSkipsNilKinds(t *testing.T) {
	set := sdk.ServerPluginSet(sdk.Plugins{Runtime: &runtime.Fake{}})
	if _, ok := set[string(base.KindRuntime)]; !ok || len(set) != 1 {
		t.Errorf("plugin set = %v, want only the runtime", set)
	}
	if len(sdk.ClientPluginSet()) != 2 {
		t.Errorf("client plugin set = %v", sdk.ClientPluginSet())
	}
}

func TestServeExitsWhenParentPipeCloses(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.ExtraFiles = []*os.File{pr} // becomes fd 3 in the child
	cmd.Env = append(os.Environ(), servePluginEnv+"=1", sdk.ParentFDEnv+"="+strconv.Itoa(3))
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.ClientPluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close() // only the child holds the read end now
	checkBothKinds(t, rpc.Dispense)

	pw.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !client.Exited() {
		if time.Now().After(deadline) {
			t.Fatal("plugin still running 10s after its parent pipe closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
