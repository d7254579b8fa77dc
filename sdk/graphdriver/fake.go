package graphdriver

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
)

// Fake is a Driver whose methods call the function fields of the same name.
// A nil field makes its method return errdefs.ErrUnimplemented. It is meant
// for unit tests of code that uses a Driver, and for testing the wire.
type Fake struct {
	InfoFunc      func(ctx context.Context) (base.Info, error)
	ConfigureFunc func(ctx context.Context, config map[string]string) error
	HealthFunc    func(ctx context.Context) error
	CreateFunc    func(ctx context.Context, id, parent string, rw bool) error
	ApplyDiffFunc func(ctx context.Context, id, blobPath, mediaType string) (int64, error)
	MountFunc     func(ctx context.Context, id, holder string) (string, error)
	UnmountFunc   func(ctx context.Context, id, holder string) error
	RemoveFunc    func(ctx context.Context, id string) error
	DiffFunc      func(ctx context.Context, id string) (io.ReadCloser, error)
	ChangesFunc   func(ctx context.Context, id string) ([]Change, error)
	UsageFunc     func(ctx context.Context, id string) (Usage, error)
	StatusFunc    func(ctx context.Context) ([][2]string, error)
}

func unimplemented(method string) error {
	return fmt.Errorf("fake graphdriver: %s: %w", method, errdefs.ErrUnimplemented)
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
func (f *Fake) Create(ctx context.Context, id, parent string, rw bool) error {
	if f.CreateFunc == nil {
		return unimplemented("Create")
	}
	return f.CreateFunc(ctx, id, parent, rw)
}

// ApplyDiff calls ApplyDiffFunc.
func (f *Fake) ApplyDiff(ctx context.Context, id, blobPath, mediaType string) (int64, error) {
	if f.ApplyDiffFunc == nil {
		return 0, unimplemented("ApplyDiff")
	}
	return f.ApplyDiffFunc(ctx, id, blobPath, mediaType)
}

// Mount calls MountFunc.
func (f *Fake) Mount(ctx context.Context, id, holder string) (string, error) {
	if f.MountFunc == nil {
		return "", unimplemented("Mount")
	}
	return f.MountFunc(ctx, id, holder)
}

// Unmount calls UnmountFunc.
func (f *Fake) Unmount(ctx context.Context, id, holder string) error {
	if f.UnmountFunc == nil {
		return unimplemented("Unmount")
	}
	return f.UnmountFunc(ctx, id, holder)
}

// Remove calls RemoveFunc.
func (f *Fake) Remove(ctx context.Context, id string) error {
	if f.RemoveFunc == nil {
		return unimplemented("Remove")
	}
	return f.RemoveFunc(ctx, id)
}

// Diff calls DiffFunc.
func (f *Fake) Diff(ctx context.Context, id string) (io.ReadCloser, error) {
	if f.DiffFunc == nil {
		return nil, unimplemented("Diff")
	}
	return f.DiffFunc(ctx, id)
}

// Changes calls ChangesFunc.
func (f *Fake) Changes(ctx context.Context, id string) ([]Change, error) {
	if f.ChangesFunc == nil {
		return nil, unimplemented("Changes")
	}
	return f.ChangesFunc(ctx, id)
}

// Usage calls UsageFunc.
func (f *Fake) Usage(ctx context.Context, id string) (Usage, error) {
	if f.UsageFunc == nil {
		return Usage{}, unimplemented("Usage")
	}
	return f.UsageFunc(ctx, id)
}

// Status calls StatusFunc.
func (f *Fake) Status(ctx context.Context) ([][2]string, error) {
	if f.StatusFunc == nil {
		return nil, unimplemented("Status")
	}
	return f.StatusFunc(ctx)
}

var _ Driver = (*Fake)(nil)
