package plugins

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/graphdriver"
)

// graphProxy is the long-lived graphdriver.Driver of one plugin.
type graphProxy struct{ in *instance }

var _ graphdriver.Driver = (*graphProxy)(nil)

const kGD = base.KindGraphDriver

func gd0(ctx context.Context, p *graphProxy, bulk bool, op string, fn func(context.Context, graphdriver.Driver) error) error {
	return invoke0(ctx, p.in, kGD, p.timeout(bulk), op, fn)
}

func (p *graphProxy) timeout(bulk bool) time.Duration {
	if bulk {
		return p.in.h.cfg.Timeouts.GraphDriverBulk
	}
	return p.in.h.cfg.Timeouts.GraphDriver
}

func (p *graphProxy) Info(ctx context.Context) (base.Info, error) {
	return invoke(ctx, p.in, kGD, p.timeout(false), "Info", func(ctx context.Context, d graphdriver.Driver) (base.Info, error) {
		return d.Info(ctx)
	})
}

func (p *graphProxy) Configure(ctx context.Context, config map[string]string) error {
	return gd0(ctx, p, false, "Configure", func(ctx context.Context, d graphdriver.Driver) error {
		return d.Configure(ctx, config)
	})
}

func (p *graphProxy) Health(ctx context.Context) error {
	return gd0(ctx, p, false, "Health", func(ctx context.Context, d graphdriver.Driver) error { return d.Health(ctx) })
}

func (p *graphProxy) Create(ctx context.Context, id, parent string, rw bool) error {
	return gd0(ctx, p, false, "Create", func(ctx context.Context, d graphdriver.Driver) error {
		return d.Create(ctx, id, parent, rw)
	})
}

func (p *graphProxy) ApplyDiff(ctx context.Context, id, blobPath, mediaType string) (int64, error) {
	return invoke(ctx, p.in, kGD, p.timeout(true), "ApplyDiff", func(ctx context.Context, d graphdriver.Driver) (int64, error) {
		return d.ApplyDiff(ctx, id, blobPath, mediaType)
	})
}

func (p *graphProxy) Mount(ctx context.Context, id, holder string) (string, error) {
	return invoke(ctx, p.in, kGD, p.timeout(false), "Mount", func(ctx context.Context, d graphdriver.Driver) (string, error) {
		return d.Mount(ctx, id, holder)
	})
}

func (p *graphProxy) Unmount(ctx context.Context, id, holder string) error {
	return gd0(ctx, p, false, "Unmount", func(ctx context.Context, d graphdriver.Driver) error {
		return d.Unmount(ctx, id, holder)
	})
}

func (p *graphProxy) Remove(ctx context.Context, id string) error {
	return gd0(ctx, p, false, "Remove", func(ctx context.Context, d graphdriver.Driver) error { return d.Remove(ctx, id) })
}

// Diff's deadline covers reading the whole stream: it ends when the reader
// is closed.
func (p *graphProxy) Diff(ctx context.Context, id string) (io.ReadCloser, error) {
	ctx, cancel := withDeadline(ctx, p.timeout(true))
	raw, gen, err := p.in.acquire(ctx, kGD)
	if err != nil {
		cancel()
		return nil, err
	}
	rc, err := raw.(graphdriver.Driver).Diff(ctx, id)
	if err != nil {
		err = p.in.classify(ctx, "Diff", gen, err)
		cancel()
		return nil, err
	}
	return &cancelReadCloser{ReadCloser: rc, cancel: cancel}, nil
}

type cancelReadCloser struct {
	io.ReadCloser
	once   sync.Once
	cancel context.CancelFunc
}

func (c *cancelReadCloser) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.cancel)
	return err
}

func (p *graphProxy) Changes(ctx context.Context, id string) ([]graphdriver.Change, error) {
	return invoke(ctx, p.in, kGD, p.timeout(false), "Changes", func(ctx context.Context, d graphdriver.Driver) ([]graphdriver.Change, error) {
		return d.Changes(ctx, id)
	})
}

func (p *graphProxy) Usage(ctx context.Context, id string) (graphdriver.Usage, error) {
	return invoke(ctx, p.in, kGD, p.timeout(false), "Usage", func(ctx context.Context, d graphdriver.Driver) (graphdriver.Usage, error) {
		return d.Usage(ctx, id)
	})
}

func (p *graphProxy) Status(ctx context.Context) ([][2]string, error) {
	return invoke(ctx, p.in, kGD, p.timeout(false), "Status", func(ctx context.Context, d graphdriver.Driver) ([][2]string, error) {
		return d.Status(ctx)
	})
}
