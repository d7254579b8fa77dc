// Package plugins is berthd's plugin host: it keeps the catalog of plugins
// (built-ins registered by cmd/berthd, third-party ones from JSON manifests),
// launches each as a go-plugin gRPC subprocess, supervises it (restart with
// backoff, events, re-sync hooks) and hands the kernel one long-lived proxy
// per plugin and kind that survives restarts and puts a deadline on every
// call.
//
// Lifetimes: every plugin inherits the read end of a pipe whose write end the
// host keeps open, so a plugin exits when berthd dies (sdk.Serve watches it).
// A pidfile per plugin lets the next berthd kill plugins a crashed berthd left
// behind, after checking /proc/PID/exe and the start time.
package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/graphdriver"
	"github.com/berth-dev/berth/sdk/runtime"
)

// DefaultPluginDir is where third-party plugin manifests are read from.
const DefaultPluginDir = "/etc/berth/plugins"

// Event actions.
const (
	ActionStart   = "start"
	ActionExit    = "exit"
	ActionRestart = "restart"
	ActionFail    = "fail"
	// ActionUnhealthy and ActionHealthy report Health turning bad and good
	// again, with dockerd's wording for health events.
	ActionUnhealthy = "health_status: unhealthy"
	ActionHealthy   = "health_status: healthy"
)

// Event reports a change of a plugin process. Kind is the plugin's first
// declared kind. The kernel turns these into Docker events of type plugin.
type Event struct {
	Name   string
	Kind   base.Kind
	Action string
	Reason string
}

// State is the supervision state of a plugin.
type State string

// Plugin states.
const (
	// StateStopped: not started yet (lazy) or shut down.
	StateStopped State = "stopped"
	// StateStarting: the first launch is under way.
	StateStarting State = "starting"
	// StateRunning: up and serving calls.
	StateRunning State = "running"
	// StateRestarting: exited or failed after having run; a relaunch is
	// pending or under way.
	StateRestarting State = "restarting"
	// StateFailed: the first launch failed; the next call or Start retries.
	StateFailed State = "failed"
)

// Status describes one plugin for `docker info`, `berth plugin ls` and tests.
type Status struct {
	Name      string
	Kinds     []base.Kind
	Builtin   bool
	Path      string
	Pid       int
	State     State
	Restarts  int
	LastError string
}

// Backoff tunes restarts: the delay starts at Initial, doubles after each
// exit up to Max, and returns to Initial once a plugin stayed up ResetAfter.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	ResetAfter time.Duration
}

// Timeouts are the default deadlines of proxied calls (a caller's own,
// shorter deadline wins). Runtime.Events has none.
type Timeouts struct {
	Runtime time.Duration
	// GraphDriver covers every graph driver call except the bulk ones.
	GraphDriver time.Duration
	// GraphDriverBulk covers ApplyDiff and Diff (the whole stream).
	GraphDriverBulk time.Duration
}

// Config configures a Host. Zero fields take the documented defaults.
type Config struct {
	// ExecRoot holds runtime state; pidfiles go to ExecRoot/plugins.
	ExecRoot string
	// PluginDir holds manifests; default DefaultPluginDir.
	PluginDir string
	// SelfExe is the binary built-ins are launched from as
	// `SelfExe plugin serve NAME`; default /proc/self/exe.
	SelfExe string
	// Logger receives host logs and the plugins' relayed stderr; default
	// slog.Default().
	Logger *slog.Logger
	// OnEvent is called for every Event, in order, from the plugin's
	// supervisor goroutine; it must not block.
	OnEvent func(Event)
	// StartTimeout bounds process start and handshake; default 10s.
	StartTimeout time.Duration
	// Backoff defaults to 100ms, 10s, 30s.
	Backoff Backoff
	// Timeouts default to runtime 30s, graph driver 30s, bulk 2m.
	Timeouts Timeouts
	// HealthInterval is how often a running plugin's Health is called;
	// default 10s.
	HealthInterval time.Duration
}

func (c *Config) setDefaults() {
	if c.PluginDir == "" {
		c.PluginDir = DefaultPluginDir
	}
	if c.SelfExe == "" {
		c.SelfExe = "/proc/self/exe"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.Backoff.Initial == 0 {
		c.Backoff.Initial = 100 * time.Millisecond
	}
	if c.Backoff.Max == 0 {
		c.Backoff.Max = 10 * time.Second
	}
	if c.Backoff.ResetAfter == 0 {
		c.Backoff.ResetAfter = 30 * time.Second
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = 10 * time.Second
	}
	if c.Timeouts.Runtime == 0 {
		c.Timeouts.Runtime = 30 * time.Second
	}
	if c.Timeouts.GraphDriver == 0 {
		c.Timeouts.GraphDriver = 30 * time.Second
	}
	if c.Timeouts.GraphDriverBulk == 0 {
		c.Timeouts.GraphDriverBulk = 2 * time.Minute
	}
}

// Host launches, supervises and proxies plugins.
type Host struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	order     []*instance // registration order: Plugins and Shutdown never depend on map order
	byName    map[string]*instance
	shutdown  bool
	staleOnce sync.Once
}

// New returns a host; it starts nothing.
func New(cfg Config) *Host {
	cfg.setDefaults()
	return &Host{cfg: cfg, log: cfg.Logger.With("component", "plugins"), byName: map[string]*instance{}}
}

func (h *Host) pidDir() string {
	if h.cfg.ExecRoot == "" {
		return ""
	}
	return filepath.Join(h.cfg.ExecRoot, "plugins")
}

func (h *Host) add(in *instance) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown {
		return fmt.Errorf("register plugin %q: host is shut down: %w", in.name, errdefs.ErrUnavailable)
	}
	if _, ok := h.byName[in.name]; ok {
		return fmt.Errorf("register plugin %q: name already registered: %w", in.name, errdefs.ErrConflict)
	}
	h.byName[in.name] = in
	h.order = append(h.order, in)
	return nil
}

// Register adds a built-in plugin. Call it in a fixed order before Start.
func (h *Host) Register(b BuiltinSpec) error {
	if err := validateName(b.Name); err != nil {
		return err
	}
	if err := validateKinds(b.Name, b.Kinds); err != nil {
		return err
	}
	in := newInstance(h, b.Name, slices.Clone(b.Kinds), true, h.cfg.SelfExe,
		[]string{"plugin", "serve", b.Name}, nil, b.Config)
	return h.add(in)
}

// LoadManifests reads the plugin directory and registers every valid
// manifest (in file name order). Bad manifests are reported in the returned
// error and skipped; the good ones are registered anyway.
func (h *Host) LoadManifests() error {
	ms, err := ReadManifests(h.cfg.PluginDir)
	errs := []error{err}
	for _, m := range ms {
		in := newInstance(h, m.Name, slices.Clone(m.Kinds), false, m.Path, slices.Clone(m.Args), nil, m.Config)
		if m.SHA256 != "" {
			in.sha256 = mustHex(m.SHA256)
		}
		errs = append(errs, h.add(in))
	}
	return errors.Join(errs...)
}

func (h *Host) lookup(name string) (*instance, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	in, ok := h.byName[name]
	if !ok {
		return nil, fmt.Errorf("plugin %q: %w", name, errdefs.ErrNotFound)
	}
	return in, nil
}

// Start launches the named plugins in parallel and waits until each is up
// (dispensed, Info checked, Configure called) or failed. Plugins not started
// here start on their first call.
func (h *Host) Start(ctx context.Context, names ...string) error {
	ins := make([]*instance, 0, len(names))
	for _, n := range names {
		in, err := h.lookup(n)
		if err != nil {
			return err
		}
		ins = append(ins, in)
	}
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() { errs[i] = in.waitStarted(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// OnRestart registers a hook run after each restart of the plugin, before
// its proxies serve calls again. Calls a hook makes through the proxies with
// the context it was given go through to the new process. Each hook has
// Timeouts.GraphDriverBulk to finish. A failing hook is logged; the plugin
// serves anyway.
func (h *Host) OnRestart(name string, hook func(ctx context.Context) error) error {
	in, err := h.lookup(name)
	if err != nil {
		return err
	}
	in.mu.Lock()
	in.hooks = append(in.hooks, hook)
	in.mu.Unlock()
	return nil
}

// Runtime returns the long-lived runtime proxy of the named plugin.
func (h *Host) Runtime(name string) (runtime.Runtime, error) {
	in, err := h.lookup(name)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(in.kinds, base.KindRuntime) {
		return nil, fmt.Errorf("plugin %q is not a runtime: %w", name, errdefs.ErrNotFound)
	}
	return in.runtimeProxy, nil
}

// GraphDriver returns the long-lived graph driver proxy of the named plugin.
func (h *Host) GraphDriver(name string) (graphdriver.Driver, error) {
	in, err := h.lookup(name)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(in.kinds, base.KindGraphDriver) {
		return nil, fmt.Errorf("plugin %q is not a graph driver: %w", name, errdefs.ErrNotFound)
	}
	return in.graphProxy, nil
}

// Plugins lists every registered plugin in registration order.
func (h *Host) Plugins() []Status {
	h.mu.Lock()
	ins := slices.Clone(h.order)
	h.mu.Unlock()
	out := make([]Status, 0, len(ins))
	for _, in := range ins {
		out = append(out, in.status())
	}
	return out
}

// Shutdown stops every plugin process (gracefully, then by force when ctx
// ends) and nothing else: containers live on in containerd.
func (h *Host) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.shutdown = true
	ins := slices.Clone(h.order)
	h.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(ins))
	for i, in := range ins {
		wg.Go(func() { errs[i] = in.stop(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cleanStale kills plugins that a previous berthd left running, once per
// host, before the first launch.
func (h *Host) cleanStale() {
	h.staleOnce.Do(func() {
		dir := h.pidDir()
		if dir == "" {
			return
		}
		if err := h.killStalePlugins(); err != nil {
			h.log.Warn("cleaning stale plugins", "error", err)
		}
	})
}

// killStalePlugins kills the plugin processes recorded in pidfiles under
// ExecRoot/plugins whose /proc/PID/exe and start time still match the
// record, and removes all those pidfiles. It runs by itself before the first
// launch; calling it again later would kill this host's own plugins.
func (h *Host) killStalePlugins() error {
	dir := h.pidDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pidfile dir: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pid") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		killed, err := killStale(p)
		if killed {
			h.log.Info("killed stale plugin from a previous berthd", "pidfile", p)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stale plugin %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func (h *Host) emit(ev Event) {
	if h.cfg.OnEvent != nil {
		h.cfg.OnEvent(ev)
	}
}
