package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
)

// parseFilters turns repeated --filter key=value flags into API filters.
func parseFilters(flags []string) (client.Filters, error) {
	f := client.Filters{}
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", kv)
		}
		f.Add(strings.ToLower(strings.TrimSpace(k)), v)
	}
	return f, nil
}

// shortID is the 12-character form of an id, without "sha256:".
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ago renders a unix time like docker: "5 seconds ago".
func ago(unix int64, now time.Time) string {
	if unix <= 0 {
		return "N/A"
	}
	return units.HumanDuration(now.Sub(time.Unix(unix, 0))) + " ago"
}

// ellipsis cuts s to n runes, marking the cut with "…".
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
