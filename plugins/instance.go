package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/berth-dev/berth/sdk"
	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
)

// exitPollInterval is how often a supervisor checks whether its process is
// gone; go-plugin exposes no exit channel.
const exitPollInterval = 25 * time.Millisecond

// parentFD is the fd number of the inherited pipe in the plugin: the first
// of cmd.ExtraFiles.
const parentFD = 3

// instance is one plugin: its launch recipe, its supervisor and its current
// process.
type instance struct {
	h       *Host
	name    string
	kinds   []base.Kind
	builtin bool
	path    string
	args    []string
	sha256  []byte
	config  map[string]string
	log     *slog.Logger

	runtimeProxy *runtimeProxy
	graphProxy   *graphProxy

	mu       sync.Mutex
	state    State
	proc     *process // current process; nil when none is up
	gen      uint64   // bumped at every launch
	restarts int
	lastErr  error
	hooks    []func(context.Context) error
	// up is closed when the plugin becomes running; replaced when it stops.
	up chan struct{}
	// run is the current supervisor run; nil when none is active.
	run     *supervisorRun
	stopped bool
	stopCh  chan struct{}
}

// supervisorRun is one life of a supervisor goroutine.
type supervisorRun struct {
	first    chan struct{} // closed when the first launch of this run ended
	firstErr error
	done     chan struct{} // closed when the supervisor returned
}

// process is one launched plugin process.
type process struct {
	client  *plugin.Client
	cmd     *exec.Cmd
	parentW *os.File
	impls   map[base.Kind]any
	exit    *exitNote
	started time.Time
	pid     int
}

func newInstance(h *Host, name string, kinds []base.Kind, builtin bool, path string, args []string, sum []byte, config map[string]string) *instance {
	in := &instance{
		h: h, name: name, kinds: kinds, builtin: builtin, path: path, args: args, sha256: sum,
		config: config, state: StateStopped, up: make(chan struct{}), stopCh: make(chan struct{}),
		log: h.cfg.Logger.With("plugin", name),
	}
	in.runtimeProxy = &runtimeProxy{in: in}
	in.graphProxy = &graphProxy{in: in}
	return in
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err) // validated by Manifest.Validate
	}
	return b
}

func (in *instance) emit(action, reason string) {
	in.h.emit(Event{Name: in.name, Kind: in.kinds[0], Action: action, Reason: reason})
}

func (in *instance) status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := Status{
		Name: in.name, Kinds: append([]base.Kind(nil), in.kinds...), Builtin: in.builtin,
		Path: in.path, State: in.state, Restarts: in.restarts,
	}
	if in.proc != nil {
		st.Pid = in.proc.pid
	}
	if in.lastErr != nil {
		st.LastError = in.lastErr.Error()
	}
	return st
}

// ensureRun starts a supervisor if none runs and returns the current run.
// Caller holds in.mu.
func (in *instance) ensureRunLocked() (*supervisorRun, error) {
	if in.stopped {
		return nil, fmt.Errorf("plugin %s: host is shut down: %w", in.name, errdefs.ErrUnavailable)
	}
	if in.run == nil {
		r := &supervisorRun{first: make(chan struct{}), done: make(chan struct{})}
		in.run = r
		in.state = StateStarting
		go in.supervise(r)
	}
	return in.run, nil
}

// waitStarted starts the plugin if needed and waits for its first launch.
func (in *instance) waitStarted(ctx context.Context) error {
	for {
		in.mu.Lock()
		if in.state == StateRunning {
			in.mu.Unlock()
			return nil
		}
		r, err := in.ensureRunLocked()
		up := in.up
		in.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-up:
			return nil
		case <-r.first:
			if r.firstErr != nil {
				return r.firstErr
			}
			// The first launch succeeded; wait for up (it may have crashed
			// already, then the supervisor is restarting it).
		case <-ctx.Done():
			return fmt.Errorf("start plugin %s: %w: %w", in.name, errdefs.ErrUnavailable, ctx.Err())
		}
	}
}

type bypassKey struct{}

// acquire returns the implementation of kind in the current process, waiting
// (bounded by ctx) until the plugin is running. Re-sync hooks get a context
// that lets them through while the plugin is still restarting.
func (in *instance) acquire(ctx context.Context, kind base.Kind) (any, uint64, error) {
	for {
		in.mu.Lock()
		// A process go-plugin has seen exit is not handed out even before its
		// supervisor notices, which narrows the window of doomed calls.
		if in.proc != nil && !in.proc.client.Exited() && (in.state == StateRunning || ctx.Value(bypassKey{}) == in) {
			impl, gen := in.proc.impls[kind], in.gen
			in.mu.Unlock()
			return impl, gen, nil
		}
		r, err := in.ensureRunLocked()
		up := in.up
		in.mu.Unlock()
		if err != nil {
			return nil, 0, err
		}
		select {
		case <-up:
		case <-r.first:
			if r.firstErr != nil {
				return nil, 0, fmt.Errorf("%w: %w", errdefs.ErrUnavailable, r.firstErr)
			}
			select {
			case <-up:
			case <-ctx.Done():
				return nil, 0, fmt.Errorf("waiting for plugin to come up: %w: %w", errdefs.ErrUnavailable, ctx.Err())
			}
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("waiting for plugin to come up: %w: %w", errdefs.ErrUnavailable, ctx.Err())
		}
	}
}

// generation returns the current launch generation.
func (in *instance) generation() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.gen
}

// supervise launches the plugin and relaunches it whenever it exits, until
// the host shuts down. If the first launch of a run fails the run ends.
func (in *instance) supervise(r *supervisorRun) {
	defer close(r.done)
	cfg := in.h.cfg.Backoff
	delay := cfg.Initial
	first := true
	for {
		restart := !first
		p, err := in.launch()
		if err == nil && restart {
			err = in.resync(p)
		}
		if err != nil {
			in.log.Error("plugin launch failed", "error", err)
			in.emit(ActionFail, err.Error())
			in.mu.Lock()
			in.lastErr = err
			if first {
				in.state = StateFailed
				in.run = nil
				r.firstErr = err
				in.mu.Unlock()
				close(r.first)
				return
			}
			in.mu.Unlock()
			if !in.sleep(delay) {
				return
			}
			delay = min(delay*2, cfg.Max)
			continue
		}

		in.mu.Lock()
		if in.stopped {
			in.mu.Unlock()
			p.kill()
			in.removePidfile()
			if first {
				r.firstErr = fmt.Errorf("plugin %s: host is shut down: %w", in.name, errdefs.ErrUnavailable)
				close(r.first)
			}
			return
		}
		in.proc = p
		in.state = StateRunning
		in.lastErr = nil
		if restart {
			in.restarts++
		}
		close(in.up)
		in.mu.Unlock()
		if restart {
			in.log.Info("plugin restarted", "pid", p.pid)
			in.emit(ActionRestart, "")
		} else {
			in.log.Info("plugin started", "pid", p.pid)
			in.emit(ActionStart, "")
			close(r.first)
			first = false
		}

		if !in.waitExit(p) {
			return // stop() kills the process
		}
		in.mu.Lock()
		if in.proc == p {
			in.proc = nil
			in.up = make(chan struct{})
			if !in.stopped {
				in.state = StateRestarting
			}
		}
		in.mu.Unlock()
		reason := p.exit.get()
		if reason == "" {
			reason = "exited"
		}
		in.log.Warn("plugin exited; restarting", "pid", p.pid, "reason", reason, "delay", delay)
		in.emit(ActionExit, reason)
		p.kill() // releases go-plugin's goroutines and our pipe end
		in.removePidfile()
		if time.Since(p.started) >= cfg.ResetAfter {
			delay = cfg.Initial
		}
		if !in.sleep(delay) {
			return
		}
		delay = min(delay*2, cfg.Max)
	}
}

// sleep waits d unless the host shuts down first.
func (in *instance) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-in.stopCh:
		return false
	}
}

// waitExit returns true when the process exited and false when the host
// shuts down.
func (in *instance) waitExit(p *process) bool {
	t := time.NewTicker(exitPollInterval)
	defer t.Stop()
	health := time.NewTicker(in.h.cfg.HealthInterval)
	defer health.Stop()
	checking := make(chan struct{}, 1) // one health check at a time
	unhealthy := false
	for {
		select {
		case <-in.stopCh:
			return false
		case <-t.C:
			if p.client.Exited() {
				return true
			}
		case <-health.C:
			select {
			case checking <- struct{}{}:
			default:
				continue // the last check still runs: it hangs, and will say so
			}
			go func() {
				defer func() { <-checking }()
				err := in.checkHealth(p)
				in.mu.Lock()
				was := unhealthy
				unhealthy = err != nil
				if err != nil {
					in.lastErr = err
				}
				in.mu.Unlock()
				switch {
				case err != nil && !was:
					in.log.Warn("plugin unhealthy", "pid", p.pid, "error", err)
					in.emit(ActionUnhealthy, err.Error())
				case err == nil && was:
					in.log.Info("plugin healthy again", "pid", p.pid)
					in.emit(ActionHealthy, "")
				}
			}()
		}
	}
}

// checkHealth calls Health of every kind the process serves, within the
// kind's deadline. A plugin reports a broken backend there (the built-in
// runtime also restarts its managed containerd when asked).
func (in *instance) checkHealth(p *process) error {
	for kind, impl := range p.impls {
		bp, ok := impl.(base.Plugin)
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), in.timeoutFor(kind))
		err := bp.Health(ctx)
		cancel()
		if err != nil && !errors.Is(err, errdefs.ErrUnimplemented) {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	return nil
}

// resync runs the kind-internal and the registered re-sync hooks against a
// freshly restarted process before it is published.
func (in *instance) resync(p *process) error {
	in.mu.Lock()
	// Publish the process to bypass callers only.
	in.proc = p
	hooks := append([]func(context.Context) error(nil), in.hooks...)
	in.mu.Unlock()
	ctx := context.WithValue(context.Background(), bypassKey{}, in)
	for i, hook := range hooks {
		hctx, cancel := context.WithTimeout(ctx, in.h.cfg.Timeouts.GraphDriverBulk)
		err := hook(hctx)
		cancel()
		if err != nil {
			in.log.Error("plugin re-sync hook failed; serving anyway", "hook", i, "error", err)
		}
	}
	return nil
}

// launch starts one process, dispenses every kind, checks Info and calls
// Configure.
func (in *instance) launch() (p *process, err error) {
	in.h.cleanStale()
	in.mu.Lock()
	in.gen++
	in.mu.Unlock()

	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: parent pipe: %w", in.name, err)
	}
	cmd := exec.Command(in.path, in.args...)
	cmd.ExtraFiles = []*os.File{r}
	// go-plugin appends the host environment and its own variables.
	cmd.Env = []string{sdk.ParentFDEnv + "=" + strconv.Itoa(parentFD)}
	var secure *plugin.SecureConfig
	if in.sha256 != nil {
		secure = &plugin.SecureConfig{Checksum: in.sha256, Hash: sha256.New()}
	}
	note := &exitNote{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.ClientPluginSet(),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     in.h.cfg.StartTimeout,
		Logger:           newHCLog(in.log, note),
	})
	rpc, err := client.Client()
	_ = r.Close() // the child has its copy (or never started)
	p = &process{client: client, cmd: cmd, parentW: w, exit: note, started: time.Now(), impls: map[base.Kind]any{}}
	if cmd.Process != nil {
		p.pid = cmd.Process.Pid
	}
	defer func() {
		if err != nil {
			p.kill()
			in.removePidfile()
		}
	}()
	if err != nil {
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return p, fmt.Errorf("plugin %s: %s: sha256 does not match the manifest; refusing to launch: %w",
				in.name, in.path, errdefs.ErrInvalidArgument)
		}
		return p, fmt.Errorf("plugin %s: launch %s: %w: %w", in.name, in.path, errdefs.ErrUnavailable, err)
	}
	if dir := in.h.pidDir(); dir != "" && p.pid != 0 {
		rec, perr := processRecord(p.pid)
		if perr == nil {
			perr = writePidfile(dir, in.name, rec)
		}
		if perr != nil {
			in.log.Warn("cannot record plugin pidfile", "error", perr)
		}
	}
	for _, kind := range in.kinds {
		raw, err := rpc.Dispense(string(kind))
		if err != nil {
			return p, fmt.Errorf("plugin %s: dispense %s: %w", in.name, kind, err)
		}
		bp, ok := raw.(base.Plugin)
		if !ok {
			return p, fmt.Errorf("plugin %s: dispensed %s is a %T", in.name, kind, raw)
		}
		ctx, cancel := context.WithTimeout(context.Background(), in.timeoutFor(kind))
		info, err := bp.Info(ctx)
		if err == nil && info.Kind != kind {
			err = fmt.Errorf("Info reports kind %q, want %q: %w", info.Kind, kind, errdefs.ErrInvalidArgument)
		}
		if err == nil {
			err = bp.Configure(ctx, in.config)
			if err != nil {
				err = fmt.Errorf("Configure: %w", err)
			}
		} else {
			err = fmt.Errorf("Info: %w", err)
		}
		cancel()
		if err != nil {
			return p, fmt.Errorf("plugin %s (%s): %w", in.name, kind, err)
		}
		p.impls[kind] = raw
	}
	return p, nil
}

func (in *instance) timeoutFor(kind base.Kind) time.Duration {
	if kind == base.KindRuntime {
		return in.h.cfg.Timeouts.Runtime
	}
	return in.h.cfg.Timeouts.GraphDriver
}

func (in *instance) removePidfile() {
	if dir := in.h.pidDir(); dir != "" {
		_ = os.Remove(pidfilePath(dir, in.name))
	}
}

// kill stops the process (go-plugin asks it to exit, then kills it) and
// closes the parent pipe, which makes sdk.Serve exit should it survive.
func (p *process) kill() {
	if p == nil {
		return
	}
	p.client.Kill()
	if p.parentW != nil {
		_ = p.parentW.Close()
		p.parentW = nil
	}
}

// forceKill SIGKILLs the process; used when a graceful stop ran out of time.
func (p *process) forceKill() {
	if p != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// stop ends supervision and the process.
func (in *instance) stop(ctx context.Context) error {
	in.mu.Lock()
	if in.stopped {
		in.mu.Unlock()
		return nil
	}
	in.stopped = true
	close(in.stopCh)
	r := in.run
	in.mu.Unlock()
	if r != nil {
		select {
		case <-r.done:
		case <-ctx.Done():
		}
	}
	in.mu.Lock()
	p := in.proc
	in.proc = nil
	in.state = StateStopped
	in.mu.Unlock()
	if p == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		p.kill()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.forceKill()
		<-done
	}
	in.removePidfile()
	in.log.Info("plugin stopped", "pid", p.pid)
	return nil
}

func (in *instance) isStopped() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stopped
}
