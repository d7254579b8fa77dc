package errdefs

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ToGRPC turns an error returned by a plugin implementation into a gRPC
// status error whose code carries the error's class. The message is kept
// as is. Errors that already are gRPC statuses pass through unchanged.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codeOf(err), err.Error())
}

func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, ErrNotFound):
		return codes.NotFound
	case errors.Is(err, ErrConflict):
		return codes.AlreadyExists
	case errors.Is(err, ErrInvalidArgument):
		return codes.InvalidArgument
	case errors.Is(err, ErrUnavailable):
		return codes.Unavailable
	case errors.Is(err, ErrUnimplemented):
		return codes.Unimplemented
	case errors.Is(err, ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	default:
		return codes.Unknown
	}
}

// FromGRPC turns an error returned by a gRPC call into one that matches its
// class with errors.Is (and context.DeadlineExceeded / context.Canceled for
// those codes) and whose message is the one the plugin produced. Errors that
// are not gRPC statuses are returned unchanged.
func FromGRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var classes []error
	switch st.Code() {
	case codes.OK:
		return nil
	case codes.NotFound:
		classes = []error{ErrNotFound}
	case codes.AlreadyExists, codes.FailedPrecondition:
		classes = []error{ErrConflict}
	case codes.InvalidArgument:
		classes = []error{ErrInvalidArgument}
	case codes.Unavailable:
		classes = []error{ErrUnavailable}
	case codes.Unimplemented:
		classes = []error{ErrUnimplemented}
	case codes.DeadlineExceeded:
		classes = []error{ErrDeadlineExceeded, context.DeadlineExceeded}
	case codes.Canceled:
		classes = []error{context.Canceled}
	}
	return &wireError{msg: st.Message(), code: st.Code(), classes: classes}
}

// wireError is an error that crossed the plugin wire: it prints the plugin's
// message and unwraps to its class so errors.Is works on the caller's side.
type wireError struct {
	msg     string
	code    codes.Code
	classes []error
}

func (e *wireError) Error() string { return e.msg }

func (e *wireError) Unwrap() []error { return e.classes }

// GRPCStatus lets a wire error be forwarded over gRPC again unchanged.
func (e *wireError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }
