package graphdriver

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/berth-dev/berth/sdk/base"
	graphdriverpb "github.com/berth-dev/berth/sdk/graphdriver/proto"
)

// GRPCPlugin connects the graph driver kind to go-plugin. A plugin process
// sets Impl and serves it (sdk.Serve does this); the kernel uses it with Impl
// nil and gets a Driver from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Driver
}

// GRPCServer registers Impl's base and graph driver services on s.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	base.RegisterGRPCServer(s, base.KindGraphDriver, p.Impl)
	graphdriverpb.RegisterGraphDriverServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a Driver that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return newClient(conn), nil
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)
