package errdefs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestGRPCRoundTripKeepsClassAndMessage(t *testing.T) {
	for _, class := range []error{ErrNotFound, ErrConflict, ErrInvalidArgument, ErrUnavailable, ErrUnimplemented, ErrDeadlineExceeded} {
		err := fmt.Errorf("container abc: %w", class)
		back := FromGRPC(ToGRPC(err))
		if !errors.Is(back, class) {
			t.Errorf("%v: class lost, got %v", class, back)
		}
		if back.Error() != err.Error() {
			t.Errorf("message changed: %q -> %q", err, back)
		}
		for _, other := range []error{ErrNotFound, ErrConflict, ErrInvalidArgument, ErrUnavailable, ErrUnimplemented} {
			if other != class && errors.Is(back, other) {
				t.Errorf("%v also matches %v", class, other)
			}
		}
	}
}

func TestGRPCCodes(t *testing.T) {
	if got := status.Code(ToGRPC(fmt.Errorf("x: %w", ErrConflict))); got != codes.AlreadyExists {
		t.Errorf("conflict maps to %v", got)
	}
	if !errors.Is(FromGRPC(status.Error(codes.FailedPrecondition, "busy")), ErrConflict) {
		t.Error("FailedPrecondition is not a conflict")
	}
	if !errors.Is(FromGRPC(ToGRPC(context.DeadlineExceeded)), context.DeadlineExceeded) {
		t.Error("context deadline lost")
	}
	if !errors.Is(FromGRPC(ToGRPC(context.Canceled)), context.Canceled) {
		t.Error("context cancel lost")
	}
	plain := FromGRPC(ToGRPC(errors.New("boom")))
	if plain.Error() != "boom" || errors.Is(plain, ErrNotFound) {
		t.Errorf("unclassified error: %v", plain)
	}
	if ToGRPC(nil) != nil || FromGRPC(nil) != nil {
		t.Error("nil not kept")
	}
	// A status forwarded again keeps its code.
	if got := status.Code(ToGRPC(FromGRPC(status.Error(codes.NotFound, "gone")))); got != codes.NotFound {
		t.Errorf("forwarded code %v", got)
	}
}
