package image

import (
	"errors"
	"fmt"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// ErrUnauthorized marks a registry's refusal of our credentials (HTTP 401).
// The API answers it with 401 so that the docker CLI offers `docker login`.
var ErrUnauthorized = errors.New("unauthorized")

// classedError carries an error class from sdk/errdefs next to a message that
// is shown to users as is: the API prints Error() and tests the class with
// errors.Is, so the class must not leak into the text ("not found: ...").
type classedError struct {
	class error
	err   error
}

func (e *classedError) Error() string   { return e.err.Error() }
func (e *classedError) Unwrap() []error { return []error{e.class, e.err} }

// classify wraps err so that errors.Is(result, class) holds while the
// message stays err's own.
func classify(class, err error) error {
	if err == nil {
		return nil
	}
	return &classedError{class: class, err: err}
}

func notFoundf(format string, args ...any) error {
	return classify(errdefs.ErrNotFound, fmt.Errorf(format, args...))
}

func invalidf(format string, args ...any) error {
	return classify(errdefs.ErrInvalidArgument, fmt.Errorf(format, args...))
}

func conflictf(format string, args ...any) error {
	return classify(errdefs.ErrConflict, fmt.Errorf(format, args...))
}
