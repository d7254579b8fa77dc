package api

import (
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	kevents "github.com/berth-dev/berth/kernel/events"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
)

// unimplemented is the error for a route whose service is not wired.
func unimplemented(what string) error {
	return &classified{msg: what + " is not available on this daemon", class: errdefs.ErrUnimplemented}
}

// ping answers HEAD and GET /_ping; the version headers are already set.
func (s *Server) ping(w http.ResponseWriter, r *http.Request, _ string) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Swarm", "inactive")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK"))
	return nil
}

func (s *Server) version(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.svc.System == nil {
		return unimplemented("version")
	}
	v, err := s.svc.System.Version(r.Context())
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	if v.Version == "" {
		v.Version = s.cfg.Version
	}
	if v.GitCommit == "" {
		v.GitCommit = s.cfg.GitCommit
	}
	if v.GoVersion == "" {
		v.GoVersion = runtime.Version()
	}
	if v.Os == "" {
		v.Os = runtime.GOOS
	}
	if v.Arch == "" {
		v.Arch = runtime.GOARCH
	}
	if v.Platform.Name == "" {
		v.Platform.Name = "Berth Engine"
	}
	v.APIVersion, v.MinAPIVersion = s.cfg.DefaultAPIVersion, s.cfg.MinAPIVersion
	hasEngine := false
	for _, c := range v.Components {
		hasEngine = hasEngine || c.Name == "Engine"
	}
	if !hasEngine {
		engine := system.ComponentVersion{Name: "Engine", Version: v.Version, Details: map[string]string{
			"ApiVersion":    v.APIVersion,
			"MinAPIVersion": v.MinAPIVersion,
			"GitCommit":     v.GitCommit,
			"GoVersion":     v.GoVersion,
			"Os":            v.Os,
			"Arch":          v.Arch,
			"KernelVersion": v.KernelVersion,
			"BuildTime":     v.BuildTime,
			"Experimental":  "false",
		}}
		v.Components = append([]system.ComponentVersion{engine}, v.Components...)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) info(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.svc.System == nil {
		return unimplemented("info")
	}
	info, err := s.svc.System.Info(r.Context())
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	// The docker CLI prints swarm details unless the node is inactive.
	if info.Swarm.LocalNodeState == "" {
		info.Swarm.LocalNodeState = swarm.LocalNodeStateInactive
	}
	if info.OSType == "" {
		info.OSType = "linux"
	}
	if info.ServerVersion == "" {
		info.ServerVersion = s.cfg.Version
	}
	if info.SystemTime == "" {
		info.SystemTime = time.Now().Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// eventFilterKeys are the filter keys GET /events accepts.
var eventFilterKeys = []string{"container", "event", "image", "label", "type", "volume",
	"network", "daemon", "plugin", "scope", "node", "service", "secret", "config"}

// events streams events as newline-separated JSON objects. Headers are
// flushed before the first event: docker stats and compose block on them.
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.svc.Events == nil {
		return unimplemented("events")
	}
	q := r.URL.Query()
	var opts EventsOptions
	var err error
	if opts.Since, err = parseTimestamp(q.Get("since")); err != nil {
		return err
	}
	if opts.Until, err = parseTimestamp(q.Get("until")); err != nil {
		return err
	}
	if opts.Filters, err = kevents.ParseFilters(q.Get("filters")); err != nil {
		return err
	}
	if err := opts.Filters.Validate(eventFilterKeys...); err != nil {
		return err
	}
	ch, err := s.svc.Events.Subscribe(r.Context(), opts)
	if err != nil {
		return fmt.Errorf("subscribe to events: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush(w)

	// The service closes ch once no event up to Until can arrive any more;
	// a timer here would race with the replay still being queued.
	enc := newLineEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			if enc.encode(m) != nil {
				return nil
			}
		}
	}
}

// parseTimestamp parses dockerd's since/until form: "<seconds>[.<nanos>]"
// as the client sends it (RFC 3339 is also accepted). "" is the zero time.
func parseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	secStr, nsStr, hasNs := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil {
		return time.Time{}, invalid(fmt.Sprintf("invalid timestamp %q", s))
	}
	var ns int64
	if hasNs {
		if len(nsStr) > 9 {
			nsStr = nsStr[:9]
		}
		nsStr += strings.Repeat("0", 9-len(nsStr))
		if ns, err = strconv.ParseInt(nsStr, 10, 64); err != nil {
			return time.Time{}, invalid(fmt.Sprintf("invalid timestamp %q", s))
		}
	}
	return time.Unix(sec, ns), nil
}
