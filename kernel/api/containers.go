package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	kevents "github.com/berth-dev/berth/kernel/events"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// validName is dockerd's container name rule.
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func (s *Server) containers() (Containers, error) {
	if s.svc.Containers == nil {
		return nil, unimplemented("containers")
	}
	return s.svc.Containers, nil
}

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request, _ string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("name")
	if name != "" && !validName.MatchString(name) {
		return invalid(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
	}
	req, err := decodeCreateRequest(r)
	if err != nil {
		return err
	}
	if req.Config == nil {
		return invalid("config cannot be empty in order to create a container")
	}
	id, warnings, err := c.Create(r.Context(), strings.TrimPrefix(name, "/"), req.Config, req.HostConfig, req.NetworkingConfig)
	if err != nil {
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: id, Warnings: warnings})
	return nil
}

// decodeCreateRequest reads a create body. Cmd, Entrypoint and Shell may
// be a JSON string (dockerd's StrSlice: one element), which the []string
// fields of the moby types would refuse.
func decodeCreateRequest(r *http.Request) (*container.CreateRequest, error) {
	var raw map[string]json.RawMessage
	if err := readJSON(r, &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return &container.CreateRequest{}, nil
	}
	for _, key := range []string{"Cmd", "Entrypoint", "Shell"} {
		var s string
		if v, ok := raw[key]; ok && len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
			raw[key], _ = json.Marshal([]string{s})
		}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, invalid("invalid JSON: " + err.Error())
	}
	var req container.CreateRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, invalid("invalid JSON: " + err.Error())
	}
	return &req, nil
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	resp, err := c.Inspect(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	// A HostConfig on start was removed in API 1.24; moby rejects any
	// body longer than "null"/"{}"-like noise (7 bytes).
	if r.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 8))
		if len(b) > 7 {
			return invalid("starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24")
		}
	}
	if err := c.Start(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopArgs reads the t and signal parameters of stop and restart.
func stopArgs(r *http.Request) (*int, syscall.Signal, error) {
	var timeout *int
	if t := r.URL.Query().Get("t"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, 0, invalid(fmt.Sprintf("invalid value for t: %q", t))
		}
		timeout = &n
	}
	var sig syscall.Signal
	if v := r.URL.Query().Get("signal"); v != "" {
		var err error
		if sig, err = ParseSignal(v); err != nil {
			return nil, 0, err
		}
	}
	return timeout, sig, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	timeout, sig, err := stopArgs(r)
	if err != nil {
		return err
	}
	if err := c.Stop(r.Context(), name, timeout, sig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	timeout, sig, err := stopArgs(r)
	if err != nil {
		return err
	}
	if err := c.Restart(r.Context(), name, timeout, sig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// containerResize answers POST /containers/{id}/resize?h=&w=, which the
// docker CLI sends after starting a -t container and on every SIGWINCH.
func (s *Server) containerResize(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	height, err := intValue(r, "h", 0)
	if err != nil {
		return err
	}
	width, err := intValue(r, "w", 0)
	if err != nil {
		return err
	}
	if height < 0 || width < 0 || height > 65535 || width > 65535 {
		return invalid("invalid terminal size")
	}
	if err := c.Resize(r.Context(), name, uint(height), uint(width)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// containerPause and containerUnpause answer POST /containers/{id}/pause
// and /unpause.
func (s *Server) containerPause(w http.ResponseWriter, r *http.Request, name string) error {
	return s.noContent(w, func(c Containers) error { return c.Pause(r.Context(), name) })
}

func (s *Server) containerUnpause(w http.ResponseWriter, r *http.Request, name string) error {
	return s.noContent(w, func(c Containers) error { return c.Unpause(r.Context(), name) })
}

// noContent runs a container operation that answers 204 on success.
func (s *Server) noContent(w http.ResponseWriter, op func(Containers) error) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	if err := op(c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if v := r.URL.Query().Get("signal"); v != "" {
		if sig, err = ParseSignal(v); err != nil {
			return err
		}
	}
	if err := c.Kill(r.Context(), name, sig); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ParseSignal parses a signal as the docker CLI and docker-py send it:
// "KILL", "SIGKILL", "sigkill" or "9". Unknown or out-of-range values are
// ErrInvalidArgument.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, invalid(fmt.Sprintf("Invalid signal: %s", s))
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, invalid(fmt.Sprintf("Invalid signal: %s", s))
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	if err := c.Remove(r.Context(), name, boolValue(r, "force"), boolValue(r, "v")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// waitBody is the /wait response. Error is always present (null when there
// is none), as dockerd writes it.
type waitBody struct {
	StatusCode int64
	Error      *container.WaitExitError
}

// containerWait registers the waiter, then writes and flushes the 200
// headers at once: docker run blocks on them before it starts the
// container, so holding them back until the exit would deadlock it.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	cond := container.WaitConditionNotRunning
	if v := r.URL.Query().Get("condition"); v != "" {
		cond = container.WaitCondition(v)
	}
	switch cond {
	case container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		return invalid(fmt.Sprintf("invalid condition: %q", cond))
	}
	ch, err := c.Wait(r.Context(), name, cond)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush(w)
	select {
	case res, ok := <-ch:
		if !ok {
			return nil
		}
		body := waitBody{StatusCode: res.StatusCode}
		if res.Error != "" {
			body.Error = &container.WaitExitError{Message: res.Error}
		}
		_ = newLineEncoder(w).encode(body)
	case <-r.Context().Done():
	}
	return nil
}

// containerListFilterKeys are the filters GET /containers/json accepts.
var containerListFilterKeys = []string{"ancestor", "before", "expose", "exited", "health", "id",
	"label", "name", "network", "publish", "since", "status", "volume", "is-task"}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request, _ string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	opts := ListOptions{All: boolValue(r, "all"), Size: boolValue(r, "size")}
	if opts.Limit, err = intValue(r, "limit", 0); err != nil {
		return err
	}
	if opts.Filters, err = kevents.ParseFilters(r.URL.Query().Get("filters")); err != nil {
		return err
	}
	if err := opts.Filters.Validate(containerListFilterKeys...); err != nil {
		return err
	}
	for _, st := range opts.Filters.Get("status") {
		if err := container.ValidateContainerState(container.ContainerState(st)); err != nil {
			return invalid(fmt.Sprintf("invalid filter 'status=%s'", st))
		}
	}
	for _, code := range opts.Filters.Get("exited") {
		if _, err := strconv.Atoi(code); err != nil {
			return invalid(fmt.Sprintf("invalid filter 'exited=%s'", code))
		}
	}
	all, err := c.List(r.Context(), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, FilterContainers(all, opts))
	return nil
}

// exitedStatus extracts the exit code from a Status like "Exited (3) 2 minutes ago".
var exitedStatus = regexp.MustCompile(`^Exited \((-?\d+)\)`)

// FilterContainers applies the docker ps rules to list: filters (status,
// name, id, label, ancestor, exited, before, since), running only unless
// All (or Limit, or a status/exited filter), newest first, then Limit.
func FilterContainers(list []container.Summary, opts ListOptions) []container.Summary {
	f := opts.Filters
	showAll := opts.All || opts.Limit > 0 || f.Contains("status") || f.Contains("exited")
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b container.Summary) int { return cmp.Compare(b.Created, a.Created) })
	var before, since *container.Summary
	for i := range list {
		for _, ref := range f.Get("before") {
			if matchesRef(&list[i], ref) {
				before = &list[i]
			}
		}
		for _, ref := range f.Get("since") {
			if matchesRef(&list[i], ref) {
				since = &list[i]
			}
		}
	}
	out := []container.Summary{}
	for _, ctr := range list {
		// Without all, dockerd lists the containers that run: paused and
		// restarting ones too.
		if !showAll && ctr.State != container.StateRunning && ctr.State != container.StatePaused && ctr.State != container.StateRestarting {
			continue
		}
		if before != nil && ctr.Created >= before.Created || since != nil && ctr.Created <= since.Created {
			continue
		}
		if !f.ExactMatch("status", string(ctr.State)) ||
			!f.Match("id", ctr.ID) ||
			!matchName(f, ctr.Names) ||
			!matchAny(f, "ancestor", func(v string) bool { return matchesImage(v, ctr.Image, ctr.ImageID) }) ||
			!matchAny(f, "exited", func(v string) bool {
				m := exitedStatus.FindStringSubmatch(ctr.Status)
				return ctr.State == container.StateExited && m != nil && m[1] == v
			}) ||
			!f.MatchKVList("label", ctr.Labels) {
			continue
		}
		out = append(out, ctr)
		if opts.Limit > 0 && len(out) == opts.Limit {
			break
		}
	}
	return out
}

// matchesRef reports whether ref (id prefix or name) names ctr.
func matchesRef(ctr *container.Summary, ref string) bool {
	return strings.HasPrefix(ctr.ID, ref) || slices.Contains(ctr.Names, "/"+strings.TrimPrefix(ref, "/"))
}

// matchName reports whether the name filter is unset or matches one of
// names (dockerd's loose match: exact or unanchored regular expression).
func matchName(f kevents.Filters, names []string) bool {
	if !f.Contains("name") {
		return true
	}
	return slices.ContainsFunc(names, func(n string) bool { return f.Match("name", n) })
}

// matchAny reports whether key is unset or match holds for one of its
// values, for filters whose test is not one of kevents.Filters' own.
func matchAny(f kevents.Filters, key string, match func(v string) bool) bool {
	if !f.Contains(key) {
		return true
	}
	return slices.ContainsFunc(f.Get(key), match)
}

// matchesImage reports whether the ancestor filter value names the image a
// container was created from, by id (prefix) or normalized reference.
// Descendant images (built FROM it) are not matched.
func matchesImage(value, image, imageID string) bool {
	if v := strings.TrimPrefix(value, "sha256:"); len(v) >= 4 && strings.HasPrefix(strings.TrimPrefix(imageID, "sha256:"), v) {
		return true
	}
	return normalizeRef(value) == normalizeRef(image)
}

// normalizeRef turns "busybox", "library/busybox:latest" and
// "docker.io/library/busybox" into one form for comparison.
func normalizeRef(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	ref = strings.TrimPrefix(ref, "index.docker.io/")
	ref = strings.TrimPrefix(ref, "library/")
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") && !strings.Contains(ref, "@") {
		ref += ":latest"
	}
	return ref
}
