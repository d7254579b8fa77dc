package base

import (
	"context"

	"google.golang.org/grpc"

	basepb "github.com/berth-dev/berth/sdk/base/proto"
	"github.com/berth-dev/berth/sdk/errdefs"
)

// NewGRPCClient returns the base calls of kind over conn. Each kind's client
// shim embeds it, so the kernel sees Info, Configure and Health on every
// dispensed plugin.
func NewGRPCClient(conn grpc.ClientConnInterface, kind Kind) Plugin {
	return &client{kind: kind, c: basepb.NewBaseClient(conn)}
}

// client is the Base service client of one kind.
type client struct {
	kind Kind
	c    basepb.BaseClient
}

func (c *client) Info(ctx context.Context) (Info, error) {
	resp, err := c.c.Info(ctx, &basepb.InfoRequest{Kind: string(c.kind)})
	if err != nil {
		return Info{}, errdefs.FromGRPC(err)
	}
	return Info{
		Name:         resp.GetName(),
		Kind:         Kind(resp.GetKind()),
		Version:      resp.GetVersion(),
		Capabilities: resp.GetCapabilities(),
	}, nil
}

func (c *client) Configure(ctx context.Context, config map[string]string) error {
	_, err := c.c.Configure(ctx, &basepb.ConfigureRequest{Kind: string(c.kind), Config: config})
	return errdefs.FromGRPC(err)
}

func (c *client) Health(ctx context.Context) error {
	_, err := c.c.Health(ctx, &basepb.HealthRequest{Kind: string(c.kind)})
	return errdefs.FromGRPC(err)
}
