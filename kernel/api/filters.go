package api

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Filters are Docker's filter arguments: key → set of values. A local
// parser: kernel/events did not export one when this package was written.
type Filters map[string]map[string]bool

// ParseFilters parses the "filters" query parameter in both forms dockerd
// accepts: {"key":{"value":true}} (docker CLI) and the legacy
// {"key":["value"]} (docker-py). "" gives empty filters.
func ParseFilters(raw string) (Filters, error) {
	f := Filters{}
	if raw == "" {
		return f, nil
	}
	var m map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &m); err == nil {
		for k, vs := range m {
			for v, on := range vs {
				if on {
					f.Add(k, v)
				}
			}
		}
		return f, nil
	}
	var legacy map[string][]string
	if err := json.Unmarshal([]byte(raw), &legacy); err != nil {
		return nil, invalid(fmt.Sprintf("invalid filter: %s", err))
	}
	for k, vs := range legacy {
		f.Add(k, vs...)
	}
	return f, nil
}

// Add adds values under key.
func (f Filters) Add(key string, values ...string) {
	if f[key] == nil {
		f[key] = map[string]bool{}
	}
	for _, v := range values {
		f[key][v] = true
	}
}

// Values returns the values under key, sorted.
func (f Filters) Values(key string) []string {
	out := make([]string, 0, len(f[key]))
	for v := range f[key] {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Has reports whether key has any value.
func (f Filters) Has(key string) bool { return len(f[key]) > 0 }

// Validate rejects keys outside accepted, with dockerd's message.
func (f Filters) Validate(accepted ...string) error {
	for k := range f {
		if !slices.Contains(accepted, k) {
			return invalid(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	return nil
}

// matchAny reports whether key is unset or match holds for one of its values.
func (f Filters) matchAny(key string, match func(v string) bool) bool {
	if !f.Has(key) {
		return true
	}
	for v := range f[key] {
		if match(v) {
			return true
		}
	}
	return false
}

// matchLabels reports whether labels satisfy every "label" value: "k" needs
// the key, "k=v" needs the key with that value (dockerd's MatchKVList).
func (f Filters) matchLabels(key string, labels map[string]string) bool {
	for v := range f[key] {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}
