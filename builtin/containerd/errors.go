package containerd

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc/status"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// classedError gives an error an sdk/errdefs class without changing its
// message: runc's own words (for example `exec: "nope": executable file not
// found in $PATH`) must reach the docker CLI unchanged, because the CLI maps
// them to exit codes 126 and 127.
type classedError struct {
	class error
	err   error
}

func (e *classedError) Error() string   { return e.err.Error() }
func (e *classedError) Unwrap() []error { return []error{e.class, e.err} }

// classify maps a containerd error (gRPC status or containerd errdefs) to the
// matching sdk/errdefs class, keeping its message. Errors without a class
// (runc failures are "unknown" in containerd) are returned as they are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ce *classedError
	if errors.As(err, &ce) {
		return err
	}
	native := toNative(err)
	var class error
	switch {
	case cerrdefs.IsNotFound(native):
		class = errdefs.ErrNotFound
	case cerrdefs.IsAlreadyExists(native), cerrdefs.IsFailedPrecondition(native), cerrdefs.IsConflict(native):
		class = errdefs.ErrConflict
	case cerrdefs.IsInvalidArgument(native):
		class = errdefs.ErrInvalidArgument
	case cerrdefs.IsUnavailable(native):
		class = errdefs.ErrUnavailable
	case cerrdefs.IsNotImplemented(native):
		class = errdefs.ErrUnimplemented
	case cerrdefs.IsDeadlineExceeded(native), errors.Is(err, context.DeadlineExceeded):
		class = errdefs.ErrDeadlineExceeded
	default:
		return err
	}
	return &classedError{class: class, err: err}
}

// wrapf adds context to a containerd error and classifies it.
func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return classify(fmt.Errorf(format+": %w", append(args, toNative(err))...))
}

// newError builds a classified error of our own.
func newError(class error, format string, args ...any) error {
	return &classedError{class: class, err: fmt.Errorf(format, args...)}
}

// toNative turns a gRPC status error into containerd's native error classes;
// errors that are native already (the client's stores convert them) pass
// through, because converting them again would lose their class.
func toNative(err error) error {
	if _, ok := status.FromError(err); ok {
		return errgrpc.ToNative(err)
	}
	return err
}
