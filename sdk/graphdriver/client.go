package graphdriver

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	graphdriverpb "github.com/berth-dev/berth/sdk/graphdriver/proto"
)

// client is the kernel's side of a graph driver plugin: it implements Driver
// by calling the berth.graphdriver.v1 service.
type client struct {
	base.Plugin
	gc graphdriverpb.GraphDriverClient
}

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{
		Plugin: base.NewGRPCClient(conn, base.KindGraphDriver),
		gc:     graphdriverpb.NewGraphDriverClient(conn),
	}
}

func (c *client) Create(ctx context.Context, id, parent string, rw bool) error {
	_, err := c.gc.Create(ctx, &graphdriverpb.CreateRequest{Id: id, Parent: parent, Rw: rw})
	return errdefs.FromGRPC(err)
}

func (c *client) ApplyDiff(ctx context.Context, id, blobPath, mediaType string) (int64, error) {
	resp, err := c.gc.ApplyDiff(ctx, &graphdriverpb.ApplyDiffRequest{Id: id, BlobPath: blobPath, MediaType: mediaType})
	if err != nil {
		return 0, errdefs.FromGRPC(err)
	}
	return resp.GetSize(), nil
}

func (c *client) Mount(ctx context.Context, id, holder string) (string, error) {
	resp, err := c.gc.Mount(ctx, &graphdriverpb.MountRequest{Id: id, Holder: holder})
	if err != nil {
		return "", errdefs.FromGRPC(err)
	}
	return resp.GetPath(), nil
}

func (c *client) Unmount(ctx context.Context, id, holder string) error {
	_, err := c.gc.Unmount(ctx, &graphdriverpb.UnmountRequest{Id: id, Holder: holder})
	return errdefs.FromGRPC(err)
}

func (c *client) Remove(ctx context.Context, id string) error {
	_, err := c.gc.Remove(ctx, &graphdriverpb.RemoveRequest{Id: id})
	return errdefs.FromGRPC(err)
}

// Diff opens the layer's tar stream. The stream lives on a context derived
// from ctx; closing the reader cancels it, which stops the plugin's side.
func (c *client) Diff(ctx context.Context, id string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.gc.Diff(ctx, &graphdriverpb.DiffRequest{Id: id})
	if err != nil {
		cancel()
		return nil, errdefs.FromGRPC(err)
	}
	md, err := stream.Header()
	if err != nil {
		cancel()
		return nil, errdefs.FromGRPC(err)
	}
	if len(md.Get(diffOpenHeader)) == 0 {
		// A trailers-only answer: the plugin could not open the diff.
		_, err := stream.Recv()
		cancel()
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("diff %s: stream ended before it was opened: %w", id, errdefs.ErrUnavailable)
		}
		return nil, errdefs.FromGRPC(err)
	}
	return &diffReader{stream: stream, cancel: cancel}, nil
}

// diffReader turns the chunks of a Diff stream back into a byte stream.
type diffReader struct {
	stream grpc.ServerStreamingClient[graphdriverpb.DiffChunk]
	cancel context.CancelFunc
	buf    []byte
	err    error
}

func (r *diffReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		chunk, err := r.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.err = io.EOF
			} else {
				r.err = errdefs.FromGRPC(err)
			}
			continue
		}
		r.buf = chunk.GetData()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close cancels the stream; a Read blocked in another goroutine returns
// with a context.Canceled error.
func (r *diffReader) Close() error {
	r.cancel()
	return nil
}

func (c *client) Changes(ctx context.Context, id string) ([]Change, error) {
	resp, err := c.gc.Changes(ctx, &graphdriverpb.ChangesRequest{Id: id})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	changes := make([]Change, 0, len(resp.GetChanges()))
	for _, ch := range resp.GetChanges() {
		changes = append(changes, Change{Path: ch.GetPath(), Kind: ChangeKind(ch.GetKind())})
	}
	return changes, nil
}

func (c *client) Usage(ctx context.Context, id string) (Usage, error) {
	resp, err := c.gc.Usage(ctx, &graphdriverpb.UsageRequest{Id: id})
	if err != nil {
		return Usage{}, errdefs.FromGRPC(err)
	}
	return Usage{Size: resp.GetSize(), Inodes: resp.GetInodes()}, nil
}

func (c *client) Status(ctx context.Context) ([][2]string, error) {
	resp, err := c.gc.Status(ctx, &graphdriverpb.StatusRequest{})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	pairs := make([][2]string, 0, len(resp.GetPairs()))
	for _, p := range resp.GetPairs() {
		pairs = append(pairs, [2]string{p.GetKey(), p.GetValue()})
	}
	return pairs, nil
}

var _ Driver = (*client)(nil)
