package runtime

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/berth-dev/berth/sdk/base"
	runtimepb "github.com/berth-dev/berth/sdk/runtime/proto"
)

// GRPCPlugin connects the runtime kind to go-plugin. A plugin process sets
// Impl and serves it (sdk.Serve does this); the kernel uses it with Impl nil
// and gets a Runtime from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Runtime
}

// GRPCServer registers Impl's base and runtime services on s.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	base.RegisterGRPCServer(s, base.KindRuntime, p.Impl)
	runtimepb.RegisterRuntimeServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a Runtime that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return newClient(conn), nil
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)
