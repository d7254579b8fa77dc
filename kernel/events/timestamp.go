package events

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// ParseTimestamp parses a since/until query value as Docker clients send it:
// unix seconds with an optional fraction ("1700000000", "1700000000.5",
// "1700000000.000000001" — the CLI turns durations and dates into this
// form), or an RFC 3339 time. An empty value is the zero time; anything else
// is errdefs.ErrInvalidArgument.
func ParseTimestamp(value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, value); err == nil {
		return t, nil
	}
	secs, frac, hasFrac := strings.Cut(value, ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || (hasFrac && (frac == "" || len(frac) > 9)) {
		return time.Time{}, fmt.Errorf("invalid timestamp %q: %w", value, errdefs.ErrInvalidArgument)
	}
	var ns int64
	if hasFrac {
		// The fraction is a decimal fraction of a second: pad to nanoseconds.
		n, err := strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid timestamp %q: %w", value, errdefs.ErrInvalidArgument)
		}
		ns = int64(n)
	}
	return time.Unix(s, ns), nil
}
