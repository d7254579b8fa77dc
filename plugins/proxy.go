package plugins

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
)

var errClasses = []error{
	errdefs.ErrNotFound, errdefs.ErrConflict, errdefs.ErrInvalidArgument,
	errdefs.ErrUnavailable, errdefs.ErrUnimplemented, errdefs.ErrDeadlineExceeded,
}

func classified(err error) bool {
	for _, c := range errClasses {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}

// classify wraps a call's error with the plugin and method and makes sure a
// transport failure reads as errdefs.ErrUnavailable (the kernel then calls
// List before any retry) and an expired deadline as ErrDeadlineExceeded.
func (in *instance) classify(ctx context.Context, op string, gen uint64, err error) error {
	prefix := fmt.Sprintf("plugin %s: %s", in.name, op)
	if classified(err) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w: %w", prefix, errdefs.ErrDeadlineExceeded, err)
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.Canceled, codes.Aborted:
			if ctx.Err() == nil {
				return fmt.Errorf("%s: %w: %w", prefix, errdefs.ErrUnavailable, err)
			}
		}
	}
	if in.generation() != gen {
		// The process died or was replaced during the call.
		return fmt.Errorf("%s: %w: %w", prefix, errdefs.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// withDeadline applies the default deadline unless the caller's is earlier.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// invoke runs fn against the current implementation of kind with a deadline,
// waiting for the plugin to be up within that deadline.
func invoke[I any, T any](ctx context.Context, in *instance, kind base.Kind, timeout time.Duration, op string,
	fn func(context.Context, I) (T, error)) (T, error) {
	var zero T
	ctx, cancel := withDeadline(ctx, timeout)
	defer cancel()
	raw, gen, err := in.acquire(ctx, kind)
	if err != nil {
		return zero, fmt.Errorf("plugin %s: %s: %w", in.name, op, err)
	}
	impl, ok := raw.(I)
	if !ok {
		return zero, fmt.Errorf("plugin %s: %s: dispensed %T: %w", in.name, op, raw, errdefs.ErrUnimplemented)
	}
	v, err := fn(ctx, impl)
	if err != nil {
		return v, in.classify(ctx, op, gen, err)
	}
	return v, nil
}

// invoke0 is invoke for calls that return only an error.
func invoke0[I any](ctx context.Context, in *instance, kind base.Kind, timeout time.Duration, op string,
	fn func(context.Context, I) error) error {
	_, err := invoke(ctx, in, kind, timeout, op, func(ctx context.Context, impl I) (struct{}, error) {
		return struct{}{}, fn(ctx, impl)
	})
	return err
}
