package plugins

import (
	"context"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/runtime"
)

// EventResync is sent on a runtime proxy's Events stream after the stream to
// the plugin was re-established (the plugin restarted or the stream broke).
// Events of the gap may be lost, so the kernel answers it by calling List and
// reconciling, exactly as after opening the stream at start.
const EventResync runtime.EventType = "berth.resync"

// runtimeProxy is the long-lived runtime.Runtime of one plugin.
type runtimeProxy struct{ in *instance }

var _ runtime.Runtime = (*runtimeProxy)(nil)

const kRT = base.KindRuntime

func (p *runtimeProxy) timeout() time.Duration { return p.in.h.cfg.Timeouts.Runtime }

func rt0(ctx context.Context, p *runtimeProxy, op string, fn func(context.Context, runtime.Runtime) error) error {
	return invoke0(ctx, p.in, kRT, p.timeout(), op, fn)
}

func rt1[T any](ctx context.Context, p *runtimeProxy, op string, fn func(context.Context, runtime.Runtime) (T, error)) (T, error) {
	return invoke(ctx, p.in, kRT, p.timeout(), op, fn)
}

func (p *runtimeProxy) Info(ctx context.Context) (base.Info, error) {
	return rt1(ctx, p, "Info", func(ctx context.Context, r runtime.Runtime) (base.Info, error) { return r.Info(ctx) })
}

func (p *runtimeProxy) Configure(ctx context.Context, config map[string]string) error {
	return rt0(ctx, p, "Configure", func(ctx context.Context, r runtime.Runtime) error { return r.Configure(ctx, config) })
}

func (p *runtimeProxy) Health(ctx context.Context) error {
	return rt0(ctx, p, "Health", func(ctx context.Context, r runtime.Runtime) error { return r.Health(ctx) })
}

func (p *runtimeProxy) Create(ctx context.Context, req runtime.CreateRequest) error {
	return rt0(ctx, p, "Create", func(ctx context.Context, r runtime.Runtime) error { return r.Create(ctx, req) })
}

func (p *runtimeProxy) Start(ctx context.Context, id string) (uint32, error) {
	return rt1(ctx, p, "Start", func(ctx context.Context, r runtime.Runtime) (uint32, error) { return r.Start(ctx, id) })
}

func (p *runtimeProxy) Kill(ctx context.Context, id, execID string, signal syscall.Signal, all bool) error {
	return rt0(ctx, p, "Kill", func(ctx context.Context, r runtime.Runtime) error {
		return r.Kill(ctx, id, execID, signal, all)
	})
}

type deleteResult struct {
	status uint32
	at     time.Time
}

func (p *runtimeProxy) Delete(ctx context.Context, id string) (uint32, time.Time, error) {
	res, err := rt1(ctx, p, "Delete", func(ctx context.Context, r runtime.Runtime) (deleteResult, error) {
		s, at, err := r.Delete(ctx, id)
		return deleteResult{s, at}, err
	})
	return res.status, res.at, err
}

func (p *runtimeProxy) Exec(ctx context.Context, req runtime.ExecRequest) (uint32, error) {
	return rt1(ctx, p, "Exec", func(ctx context.Context, r runtime.Runtime) (uint32, error) { return r.Exec(ctx, req) })
}

func (p *runtimeProxy) DeleteExec(ctx context.Context, id, execID string) error {
	return rt0(ctx, p, "DeleteExec", func(ctx context.Context, r runtime.Runtime) error { return r.DeleteExec(ctx, id, execID) })
}

func (p *runtimeProxy) ResizePTY(ctx context.Context, id, execID string, width, height uint32) error {
	return rt0(ctx, p, "ResizePTY", func(ctx context.Context, r runtime.Runtime) error {
		return r.ResizePTY(ctx, id, execID, width, height)
	})
}

func (p *runtimeProxy) CloseStdin(ctx context.Context, id, execID string) error {
	return rt0(ctx, p, "CloseStdin", func(ctx context.Context, r runtime.Runtime) error { return r.CloseStdin(ctx, id, execID) })
}

func (p *runtimeProxy) Pause(ctx context.Context, id string) error {
	return rt0(ctx, p, "Pause", func(ctx context.Context, r runtime.Runtime) error { return r.Pause(ctx, id) })
}

func (p *runtimeProxy) Resume(ctx context.Context, id string) error {
	return rt0(ctx, p, "Resume", func(ctx context.Context, r runtime.Runtime) error { return r.Resume(ctx, id) })
}

func (p *runtimeProxy) Update(ctx context.Context, id string, resources *specs.LinuxResources) error {
	return rt0(ctx, p, "Update", func(ctx context.Context, r runtime.Runtime) error { return r.Update(ctx, id, resources) })
}

func (p *runtimeProxy) Stats(ctx context.Context, id string) (*runtime.Stats, error) {
	return rt1(ctx, p, "Stats", func(ctx context.Context, r runtime.Runtime) (*runtime.Stats, error) { return r.Stats(ctx, id) })
}

func (p *runtimeProxy) State(ctx context.Context, id string) (runtime.Task, error) {
	return rt1(ctx, p, "State", func(ctx context.Context, r runtime.Runtime) (runtime.Task, error) { return r.State(ctx, id) })
}

func (p *runtimeProxy) List(ctx context.Context) ([]runtime.Task, error) {
	return rt1(ctx, p, "List", func(ctx context.Context, r runtime.Runtime) ([]runtime.Task, error) { return r.List(ctx) })
}

// Events returns one stream that outlives plugin restarts: when the stream
// to the plugin breaks, the proxy waits for the plugin, subscribes again and
// then sends an EventResync. The returned channels close only when ctx ends
// or the host shuts down (then the reason is sent on errc). The first
// subscription is made before Events returns, bounded by the runtime
// deadline, so that no exit of a task started afterwards is missed.
func (p *runtimeProxy) Events(ctx context.Context) (<-chan runtime.Event, <-chan error, error) {
	wctx, cancel := withDeadline(ctx, p.timeout())
	up, uerrc, err := p.subscribe(ctx, wctx)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	out := make(chan runtime.Event, 16)
	errc := make(chan error, 1)
	go p.pump(ctx, up, uerrc, out, errc)
	return out, errc, nil
}

// subscribe opens a stream to the current process; waitCtx bounds the wait
// for the plugin, ctx the stream itself.
func (p *runtimeProxy) subscribe(ctx, waitCtx context.Context) (<-chan runtime.Event, <-chan error, error) {
	raw, gen, err := p.in.acquire(waitCtx, kRT)
	if err != nil {
		return nil, nil, err
	}
	ev, ec, err := raw.(runtime.Runtime).Events(ctx)
	if err != nil {
		return nil, nil, p.in.classify(ctx, "Events", gen, err)
	}
	return ev, ec, nil
}

func (p *runtimeProxy) pump(ctx context.Context, up <-chan runtime.Event, uerrc <-chan error, out chan<- runtime.Event, errc chan<- error) {
	defer close(errc)
	defer close(out)
	const maxDelay = 5 * time.Second
	for {
		for ev := range up {
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
		uerr := <-uerrc
		if ctx.Err() != nil {
			return
		}
		p.in.log.Warn("runtime event stream broke; subscribing again", "error", uerr)
		delay := 50 * time.Millisecond
		for {
			var err error
			up, uerrc, err = p.subscribe(ctx, ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			if p.in.isStopped() {
				errc <- err
				return
			}
			p.in.log.Warn("runtime event stream: subscribe failed", "error", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			delay = min(delay*2, maxDelay)
		}
		select {
		case out <- runtime.Event{Type: EventResync}:
		case <-ctx.Done():
			return
		}
	}
}
