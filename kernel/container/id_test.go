package container

import (
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/sdk/errdefs"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !IsFullID(id) {
			t.Fatalf("bad id %q", id)
		}
		if strings.Trim(id[:12], "0123456789") == "" {
			t.Fatalf("numeric short id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"web", "/web", "a1", "my_app.v2-x", "0x"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "/", "-web", "_web", "we b", "a/b", "//web", "ünï"} {
		err := ValidateName(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "Invalid container name ("+bad+")") {
			t.Errorf("%q: error %q", bad, err)
		}
	}
}

func TestRandomName(t *testing.T) {
	for i := 0; i < 500; i++ {
		name := RandomName(i % 3)
		if err := ValidateName(name); err != nil {
			t.Fatalf("generated invalid name %q: %v", name, err)
		}
		if !strings.Contains(name, "_") {
			t.Fatalf("name %q is not adjective_surname", name)
		}
	}
	for _, w := range append(append([]string{}, nameAdjectives...), nameSurnames...) {
		if err := ValidateName(w + "_x"); err != nil {
			t.Errorf("word %q makes invalid names", w)
		}
	}
}
