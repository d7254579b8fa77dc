package events

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// Filters is the parsed `filters` query value of the Docker API: for each
// key, the set of accepted values. Values of one key are alternatives (OR);
// different keys must all match (AND). The zero value matches everything.
type Filters struct {
	fields map[string]map[string]bool
}

// ParseFilters parses a `filters` query value in either JSON form Docker
// clients send: the current map[string]map[string]bool
// ({"label":{"a=b":true}}, the docker CLI) or the legacy map[string][]string
// ({"label":["a=b"]}, docker-py). An empty string gives empty Filters; bad
// JSON is errdefs.ErrInvalidArgument.
func ParseFilters(s string) (Filters, error) {
	f := Filters{fields: map[string]map[string]bool{}}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	var sets map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &sets); err == nil {
		for k, vs := range sets {
			for v, on := range vs {
				// dockerd keeps false entries but no matcher ever tests the
				// flag; a value is present or not.
				_ = on
				f.Add(k, v)
			}
		}
		return f, nil
	}
	var lists map[string][]string
	if err := json.Unmarshal([]byte(s), &lists); err != nil {
		return Filters{}, fmt.Errorf("invalid filter: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for k, vs := range lists {
		for _, v := range vs {
			f.Add(k, v)
		}
	}
	return f, nil
}

// NewFilters builds Filters from key, value pairs; handy in tests and for
// filters the kernel adds itself.
func NewFilters(pairs ...[2]string) Filters {
	f := Filters{fields: map[string]map[string]bool{}}
	for _, p := range pairs {
		f.Add(p[0], p[1])
	}
	return f
}

// Add accepts value for key.
func (f *Filters) Add(key, value string) {
	if f.fields == nil {
		f.fields = map[string]map[string]bool{}
	}
	if f.fields[key] == nil {
		f.fields[key] = map[string]bool{}
	}
	f.fields[key][value] = true
}

// Len returns the number of keys.
func (f Filters) Len() int { return len(f.fields) }

// Contains reports whether key has any value.
func (f Filters) Contains(key string) bool { return len(f.fields[key]) > 0 }

// Get returns the values of key, sorted.
func (f Filters) Get(key string) []string {
	out := make([]string, 0, len(f.fields[key]))
	for v := range f.fields[key] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Validate returns errdefs.ErrInvalidArgument, worded like dockerd
// ("invalid filter 'x'"), for a key not in allowed.
func (f Filters) Validate(allowed ...string) error {
	ok := make(map[string]bool, len(allowed))
	for _, k := range allowed {
		ok[k] = true
	}
	keys := make([]string, 0, len(f.fields))
	for k := range f.fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !ok[k] {
			return fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// ExactMatch reports whether value is one of key's values; a key without
// values matches anything.
func (f Filters) ExactMatch(key, value string) bool {
	vs := f.fields[key]
	return len(vs) == 0 || vs[value]
}

// FuzzyMatch is ExactMatch that also accepts value starting with one of
// key's values (id prefixes, "exec_start: sh" against "exec_start").
func (f Filters) FuzzyMatch(key, value string) bool {
	if f.ExactMatch(key, value) {
		return true
	}
	for v := range f.fields[key] {
		if strings.HasPrefix(value, v) {
			return true
		}
	}
	return false
}

// Match is dockerd's loose match, used by `ps` for name and the like: exact,
// or any of key's values taken as an unanchored regular expression matches
// value. Values that are not valid expressions only match exactly.
func (f Filters) Match(key, value string) bool {
	if f.ExactMatch(key, value) {
		return true
	}
	for v := range f.fields[key] {
		if re, err := regexp.Compile(v); err == nil && re.MatchString(value) {
			return true
		}
	}
	return false
}

// MatchKVList checks key's values ("k" or "k=v", as label filters are
// written) against a map such as labels: every value must hold.
func (f Filters) MatchKVList(key string, kv map[string]string) bool {
	for v := range f.fields[key] {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := kv[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}
