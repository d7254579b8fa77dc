package runtime

import (
	"context"
	"fmt"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
)

// Fake is a Runtime whose methods call the function fields of the same name.
// A nil field makes its method return errdefs.ErrUnimplemented. It is meant
// for unit tests of code that uses a Runtime, and for testing the wire.
type Fake struct {
	InfoFunc       func(ctx context.Context) (base.Info, error)
	ConfigureFunc  func(ctx context.Context, config map[string]string) error
	HealthFunc     func(ctx context.Context) error
	CreateFunc     func(ctx context.Context, req CreateRequest) error
	StartFunc      func(ctx context.Context, id string) (uint32, error)
	KillFunc       func(ctx context.Context, id, execID string, signal syscall.Signal, all bool) error
	EventsFunc     func(ctx context.Context) (<-chan Event, <-chan error, error)
	DeleteFunc     func(ctx context.Context, id string) (uint32, time.Time, error)
	ExecFunc       func(ctx context.Context, req ExecRequest) (uint32, error)
	DeleteExecFunc func(ctx context.Context, id, execID string) error
	ResizePTYFunc  func(ctx context.Context, id, execID string, width, height uint32) error
	CloseStdinFunc func(ctx context.Context, id, execID string) error
	PauseFunc      func(ctx context.Context, id string) error
	ResumeFunc     func(ctx context.Context, id string) error
	UpdateFunc     func(ctx context.Context, id string, resources *specs.LinuxResources) error
	StatsFunc      func(ctx context.Context, id string) (*Stats, error)
	StateFunc      func(ctx context.Context, id string) (Task, error)
	ListFunc       func(ctx context.Context) ([]Task, error)
}

func unimplemented(method string) error {
	return fmt.Errorf("fake runtime: %s: %w", method, errdefs.ErrUnimplemented)
}

// Info calls InfoFunc.
func (f *Fake) Info(ctx context.Context) (base.Info, error) {
	if f.InfoFunc == nil {
		return base.Info{}, unimplemented("Info")
	}
	return f.InfoFunc(ctx)
}

// Configure calls ConfigureFunc.
func (f *Fake) Configure(ctx context.Context, config map[string]string) error {
	if f.ConfigureFunc == nil {
		return unimplemented("Configure")
	}
	return f.ConfigureFunc(ctx, config)
}

// Health calls HealthFunc.
func (f *Fake) Health(ctx context.Context) error {
	if f.HealthFunc == nil {
		return unimplemented("Health")
	}
	return f.HealthFunc(ctx)
}

// Create calls CreateFunc.
func (f *Fake) Create(ctx context.Context, req CreateRequest) error {
	if f.CreateFunc == nil {
		return unimplemented("Create")
	}
	return f.CreateFunc(ctx, req)
}

// Start calls StartFunc.
func (f *Fake) Start(ctx context.Context, id string) (uint32, error) {
	if f.StartFunc == nil {
		return 0, unimplemented("Start")
	}
	return f.StartFunc(ctx, id)
}

// Kill calls KillFunc.
func (f *Fake) Kill(ctx context.Context, id, execID string, signal syscall.Signal, all bool) error {
	if f.KillFunc == nil {
		return unimplemented("Kill")
	}
	return f.KillFunc(ctx, id, execID, signal, all)
}

// Events calls EventsFunc.
func (f *Fake) Events(ctx context.Context) (<-chan Event, <-chan error, error) {
	if f.EventsFunc == nil {
		return nil, nil, unimplemented("Events")
	}
	return f.EventsFunc(ctx)
}

// Delete calls DeleteFunc.
func (f *Fake) Delete(ctx context.Context, id string) (uint32, time.Time, error) {
	if f.DeleteFunc == nil {
		return 0, time.Time{}, unimplemented("Delete")
	}
	return f.DeleteFunc(ctx, id)
}

// Exec calls ExecFunc.
func (f *Fake) Exec(ctx context.Context, req ExecRequest) (uint32, error) {
	if f.ExecFunc == nil {
		return 0, unimplemented("Exec")
	}
	return f.ExecFunc(ctx, req)
}

// DeleteExec calls DeleteExecFunc.
func (f *Fake) DeleteExec(ctx context.Context, id, execID string) error {
	if f.DeleteExecFunc == nil {
		return unimplemented("DeleteExec")
	}
	return f.DeleteExecFunc(ctx, id, execID)
}

// ResizePTY calls ResizePTYFunc.
func (f *Fake) ResizePTY(ctx context.Context, id, execID string, width, height uint32) error {
	if f.ResizePTYFunc == nil {
		return unimplemented("ResizePTY")
	}
	return f.ResizePTYFunc(ctx, id, execID, width, height)
}

// CloseStdin calls CloseStdinFunc.
func (f *Fake) CloseStdin(ctx context.Context, id, execID string) error {
	if f.CloseStdinFunc == nil {
		return unimplemented("CloseStdin")
	}
	return f.CloseStdinFunc(ctx, id, execID)
}

// Pause calls PauseFunc.
func (f *Fake) Pause(ctx context.Context, id string) error {
	if f.PauseFunc == nil {
		return unimplemented("Pause")
	}
	return f.PauseFunc(ctx, id)
}

// Resume calls ResumeFunc.
func (f *Fake) Resume(ctx context.Context, id string) error {
	if f.ResumeFunc == nil {
		return unimplemented("Resume")
	}
	return f.ResumeFunc(ctx, id)
}

// Update calls UpdateFunc.
func (f *Fake) Update(ctx context.Context, id string, resources *specs.LinuxResources) error {
	if f.UpdateFunc == nil {
		return unimplemented("Update")
	}
	return f.UpdateFunc(ctx, id, resources)
}

// Stats calls StatsFunc.
func (f *Fake) Stats(ctx context.Context, id string) (*Stats, error) {
	if f.StatsFunc == nil {
		return nil, unimplemented("Stats")
	}
	return f.StatsFunc(ctx, id)
}

// State calls StateFunc.
func (f *Fake) State(ctx context.Context, id string) (Task, error) {
	if f.StateFunc == nil {
		return Task{}, unimplemented("State")
	}
	return f.StateFunc(ctx, id)
}

// List calls ListFunc.
func (f *Fake) List(ctx context.Context) ([]Task, error) {
	if f.ListFunc == nil {
		return nil, unimplemented("List")
	}
	return f.ListFunc(ctx)
}

var _ Runtime = (*Fake)(nil)
