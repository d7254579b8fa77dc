// Package errdefs holds the error classes that keep their meaning across the
// plugin wire. A plugin returns (or wraps) one of these; the server shim maps
// it to a gRPC code and the client shim maps the code back, so the kernel can
// test errors.Is(err, errdefs.ErrNotFound) whatever process produced them.
package errdefs

import "errors"

var (
	// ErrNotFound means the named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the object exists or is in a state that forbids the call.
	ErrConflict = errors.New("conflict")
	// ErrInvalidArgument means the request itself is wrong.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable means the plugin or its backend cannot serve right now;
	// the caller may retry after reconciling.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnimplemented means the plugin does not implement the call.
	ErrUnimplemented = errors.New("not implemented")
	// ErrDeadlineExceeded means the call ran out of time.
	ErrDeadlineExceeded = errors.New("deadline exceeded")
)
