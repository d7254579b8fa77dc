package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/sdk/errdefs"
)

var (
	// ErrNotModified means the call changed nothing because the object is
	// already in the requested state (start on running, stop on stopped);
	// the API answers 304, which clients treat as success.
	ErrNotModified = errors.New("not modified")
	// ErrForbidden means the call is understood but refused in the
	// object's current state (a network with active endpoints); 403.
	ErrForbidden = errors.New("forbidden")
)

// classes maps error classes to HTTP status codes, most specific first.
var classes = []struct {
	class  error
	status int
}{
	{ErrNotModified, http.StatusNotModified},
	{errdefs.ErrNotFound, http.StatusNotFound},
	{errdefs.ErrInvalidArgument, http.StatusBadRequest},
	{errdefs.ErrConflict, http.StatusConflict},
	{ErrForbidden, http.StatusForbidden},
	{errdefs.ErrUnavailable, http.StatusServiceUnavailable},
	{errdefs.ErrUnimplemented, http.StatusNotImplemented},
}

// StatusOf returns the HTTP status code for err's class (500 if none).
func StatusOf(err error) int {
	for _, c := range classes {
		if errors.Is(err, c.class) {
			return c.status
		}
	}
	return http.StatusInternalServerError
}

// messageOf is the text the client sees: the error without the trailing
// ": <class>" that %w-wrapping a class adds, because "No such container:
// x: not found" reads worse than dockerd's "No such container: x".
func messageOf(err error) string {
	msg := err.Error()
	for _, c := range classes {
		if errors.Is(err, c.class) {
			if s, ok := strings.CutSuffix(msg, ": "+c.class.Error()); ok && s != "" {
				return s
			}
			break
		}
	}
	if errors.Is(err, context.Canceled) {
		return "request canceled: " + msg
	}
	return msg
}

// invalid returns an ErrInvalidArgument error with the given message.
func invalid(msg string) error { return &classified{msg: msg, class: errdefs.ErrInvalidArgument} }

// classified is an error whose message is exactly msg and whose class is class.
type classified struct {
	msg   string
	class error
}

func (e *classified) Error() string        { return e.msg }
func (e *classified) Is(target error) bool { return target == e.class }
