package container

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// NewID returns a random 64-hex container id. Like dockerd it never returns
// an id whose 12-character short form is all digits, because clients treat
// such a string as a number (and "1e5"-like forms as floats) in places.
func NewID() string {
	buf := make([]byte, 32)
	for {
		if _, err := rand.Read(buf); err != nil {
			// crypto/rand.Read does not fail on Linux (it would crash the
			// program itself); keep the signature simple.
			panic(fmt.Sprintf("container: reading random bytes: %v", err))
		}
		id := hex.EncodeToString(buf)
		if strings.Trim(id[:12], "0123456789") != "" {
			return id
		}
	}
}

// IsFullID reports whether s is a 64-character lowercase hex id.
func IsFullID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// ShortID returns the 12-character form of an id, as the CLI prints it.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a user-supplied container name (with or without its
// leading '/') against the rule dockerd enforces, and returns an
// errdefs.ErrInvalidArgument error worded like dockerd's.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		// dockerd's wording, capital letter included: scripts grep for it.
		return &classError{
			msg:     fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name),
			classes: []error{errdefs.ErrInvalidArgument},
		}
	}
	return nil
}

// NormalizeName strips the leading '/' from a name.
func NormalizeName(name string) string { return strings.TrimPrefix(name, "/") }

// CanonicalName returns the name with exactly one leading '/', the form the
// Docker API shows and the record stores.
func CanonicalName(name string) string { return "/" + NormalizeName(name) }
