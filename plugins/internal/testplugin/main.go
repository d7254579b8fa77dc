// Command testplugin is a small plugin binary for the plugin host's tests. It
// accepts berthd's built-in arguments (`plugin serve NAME`) and serves an
// in-memory runtime and a fake graph driver through sdk.Serve.
//
// Test hooks:
//   - Start("hang") sleeps for an hour, ignoring its context (a hung plugin).
//   - Start(id) returns this process's pid, so callers see restarts.
//   - Kill(id, ...) sends an exit event for id with the signal as status.
//   - Configure with {"fail": "configure"} fails.
//   - The argument --infokind=K makes the runtime's Info report kind K from
//     the start (to test the host's kind check).
//   - Configure logs "testplugin configured" at info level (to test the relay).
//   - Mount returns "/testplugin/<pid>/<id>".
//   - Configure with {"sick-file": PATH}: Health fails while PATH exists.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/sdk"
	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/graphdriver"
	"github.com/berth-dev/berth/sdk/runtime"
)

type memRuntime struct {
	sickFile string

	mu       sync.Mutex
	subs     map[chan runtime.Event]struct{}
	infoKind base.Kind
}

func unimpl(m string) error { return fmt.Errorf("testplugin: %s: %w", m, errdefs.ErrUnimplemented) }

func (r *memRuntime) Info(context.Context) (base.Info, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kind := base.KindRuntime
	if r.infoKind != "" {
		kind = r.infoKind
	}
	return base.Info{Name: "testplugin", Kind: kind, Version: "0"}, nil
}

func (r *memRuntime) Configure(_ context.Context, cfg map[string]string) error {
	if cfg["fail"] == "configure" {
		return fmt.Errorf("testplugin: configure refused: %w", errdefs.ErrInvalidArgument)
	}
	r.mu.Lock()
	r.sickFile = cfg["sick-file"]
	r.mu.Unlock()
	logger.Info("testplugin configured", "pid", os.Getpid())
	return nil
}

func (r *memRuntime) Health(context.Context) error {
	r.mu.Lock()
	sick := r.sickFile
	r.mu.Unlock()
	if sick != "" {
		if _, err := os.Stat(sick); err == nil {
			return fmt.Errorf("testplugin: backend broken (%s exists): %w", sick, errdefs.ErrUnavailable)
		}
	}
	return nil
}

func (r *memRuntime) Create(context.Context, runtime.CreateRequest) error { return nil }

func (r *memRuntime) Start(_ context.Context, id string) (uint32, error) {
	if id == "hang" {
		time.Sleep(time.Hour)
	}
	return uint32(os.Getpid()), nil
}

func (r *memRuntime) Kill(_ context.Context, id, execID string, signal syscall.Signal, _ bool) error {
	ev := runtime.Event{Type: runtime.EventExit, ContainerID: id, ExecID: execID,
		ExitStatus: 128 + uint32(signal), ExitedAt: time.Now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.subs {
		select {
		case ch <- ev:
		default:
		}
	}
	return nil
}

func (r *memRuntime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error, error) {
	ch := make(chan runtime.Event, 16)
	out := make(chan runtime.Event)
	errc := make(chan error, 1)
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	go func() {
		defer close(errc)
		defer close(out)
		defer func() {
			r.mu.Lock()
			delete(r.subs, ch)
			r.mu.Unlock()
		}()
		for {
			select {
			case ev := <-ch:
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, errc, nil
}

func (r *memRuntime) Delete(context.Context, string) (uint32, time.Time, error) {
	return 0, time.Time{}, unimpl("Delete")
}
func (r *memRuntime) Exec(context.Context, runtime.ExecRequest) (uint32, error) {
	return 0, unimpl("Exec")
}
func (r *memRuntime) DeleteExec(context.Context, string, string) error { return unimpl("DeleteExec") }
func (r *memRuntime) ResizePTY(context.Context, string, string, uint32, uint32) error {
	return unimpl("ResizePTY")
}
func (r *memRuntime) CloseStdin(context.Context, string, string) error { return unimpl("CloseStdin") }
func (r *memRuntime) Pause(context.Context, string) error              { return unimpl("Pause") }
func (r *memRuntime) Resume(context.Context, string) error             { return unimpl("Resume") }
func (r *memRuntime) Update(context.Context, string, *specs.LinuxResources) error {
	return unimpl("Update")
}
func (r *memRuntime) Stats(context.Context, string) (*runtime.Stats, error) {
	return nil, unimpl("Stats")
}
func (r *memRuntime) State(_ context.Context, id string) (runtime.Task, error) {
	return runtime.Task{}, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
}
func (r *memRuntime) List(context.Context) ([]runtime.Task, error) { return nil, nil }

var _ runtime.Runtime = (*memRuntime)(nil)

var logger = sdk.NewLogger("testplugin")

func main() {
	gd := &graphdriver.Fake{
		InfoFunc: func(context.Context) (base.Info, error) {
			return base.Info{Name: "testplugin", Kind: base.KindGraphDriver, Version: "0"}, nil
		},
		ConfigureFunc: func(context.Context, map[string]string) error { return nil },
		MountFunc: func(_ context.Context, id, _ string) (string, error) {
			return fmt.Sprintf("/testplugin/%d/%s", os.Getpid(), id), nil
		},
	}
	rt := &memRuntime{subs: map[chan runtime.Event]struct{}{}}
	for _, a := range os.Args[1:] {
		if k, ok := strings.CutPrefix(a, "--infokind="); ok {
			rt.infoKind = base.Kind(k)
		}
	}
	sdk.Serve(sdk.Plugins{Runtime: rt, GraphDriver: gd})
}
