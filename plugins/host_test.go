package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// testPluginBin is the test plugin binary, built once for all tests.
var testPluginBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-plugins-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testPluginBin = filepath.Join(dir, "testplugin")
	out, err := exec.Command("go", "build", "-o", testPluginBin, "./internal/testplugin").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build test plugin: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// recorder collects events and log records.
type recorder struct {
	mu      sync.Mutex
	events  []Event
	records []slog.Record
}

func (r *recorder) onEvent(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		out = append(out, ev.Action)
	}
	return out
}

func (r *recorder) event(action string) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.Action == action {
			return ev, true
		}
	}
	return Event{}, false
}

// recordHandler is a slog.Handler that keeps every record with its attrs.
type recordHandler struct {
	r     *recorder
	attrs []slog.Attr
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(h.attrs...)
	h.r.mu.Lock()
	h.r.records = append(h.r.records, rec)
	h.r.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{r: h.r, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}
func (h *recordHandler) WithGroup(string) slog.Handler { return h }

func (r *recorder) hasLog(msg, plugin string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if !strings.Contains(rec.Message, msg) {
			continue
		}
		found := false
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "plugin" && a.Value.String() == plugin {
				found = true
			}
			return true
		})
		if found {
			return true
		}
	}
	return false
}

func newTestHost(t *testing.T, mod func(*Config)) (*Host, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg := Config{
		ExecRoot:  t.TempDir(),
		PluginDir: t.TempDir(),
		SelfExe:   testPluginBin,
		Logger:    slog.New(&recordHandler{r: rec}),
		OnEvent:   rec.onEvent,
		Backoff:   Backoff{Initial: 50 * time.Millisecond, Max: time.Second, ResetAfter: 30 * time.Second},
	}
	if mod != nil {
		mod(&cfg)
	}
	h := New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pids := []int{}
		for _, st := range h.Plugins() {
			if st.Pid != 0 {
				pids = append(pids, st.Pid)
			}
		}
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		for _, pid := range pids {
			waitGone(t, pid)
		}
	})
	return h, rec
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var bothKinds = []base.Kind{base.KindRuntime, base.KindGraphDriver}

func statusOf(t *testing.T, h *Host, name string) Status {
	t.Helper()
	for _, st := range h.Plugins() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no plugin %q", name)
	return Status{}
}

func TestStartDispenseAndCall(t *testing.T) {
	h, rec := newTestHost(t, nil)
	if err := h.Register(BuiltinSpec{Name: "tp", Kinds: bothKinds}); err != nil {
		t.Fatal(err)
	}
	if err := h.Register(BuiltinSpec{Name: "tp", Kinds: bothKinds}); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("duplicate register: %v, want conflict", err)
	}
	ctx := context.Background()
	if err := h.Start(ctx, "tp"); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, h, "tp")
	if st.State != StateRunning || st.Pid == 0 || !st.Builtin {
		t.Fatalf("status %+v", st)
	}
	rt, err := h.Runtime("tp")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := rt.Start(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if int(pid) != st.Pid {
		t.Fatalf("plugin answered from pid %d, status says %d", pid, st.Pid)
	}
	gd, err := h.GraphDriver("tp")
	if err != nil {
		t.Fatal(err)
	}
	path, err := gd.Mount(ctx, "l1", "c1")
	if want := fmt.Sprintf("/testplugin/%d/l1", st.Pid); err != nil || path != want {
		t.Fatalf("Mount = %q, %v; want %q", path, err, want)
	}
	// Calls the fake does not implement keep their class across the wire.
	if _, err := gd.Usage(ctx, "l1"); !errors.Is(err, errdefs.ErrUnimplemented) {
		t.Fatalf("Usage: %v, want unimplemented", err)
	}
	// The pidfile records the process.
	recd, err := readPidfile(pidfilePath(filepath.Join(h.cfg.ExecRoot, "plugins"), "tp"))
	if err != nil {
		t.Fatal(err)
	}
	if recd.Pid != st.Pid || !recd.matches() {
		t.Fatalf("pidfile %+v does not describe pid %d", recd, st.Pid)
	}
	// The plugin's stderr log reached the host logger, tagged.
	if !rec.hasLog("testplugin configured", "tp") {
		t.Fatal("plugin log line not relayed with plugin=tp")
	}
	if ev, ok := rec.event(ActionStart); !ok || ev.Name != "tp" || ev.Kind != base.KindRuntime {
		t.Fatalf("start event %+v %v", ev, ok)
	}
	if _, err := h.Runtime("nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown plugin: %v", err)
	}
}

func TestKindOnlyDispensedWhenDeclared(t *testing.T) {
	h, _ := newTestHost(t, nil)
	if err := h.Register(BuiltinSpec{Name: "gd", Kinds: []base.Kind{base.KindGraphDriver}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Runtime("gd"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Runtime of a graph driver: %v", err)
	}
}

func TestRestartAfterKill(t *testing.T) {
	h, rec := newTestHost(t, nil)
	if err := h.Register(BuiltinSpec{Name: "tp", Kinds: bothKinds}); err != nil {
		t.Fatal(err)
	}
	rt, _ := h.Runtime("tp")
	var hookCalls int
	var hookErr error
	var hookMu sync.Mutex
	if err := h.OnRestart("tp", func(ctx context.Context) error {
		// A hook may call the plugin through the proxy before it is
		// published to everyone else.
		_, err := rt.List(ctx)
		hookMu.Lock()
		hookCalls++
		hookErr = err
		hookMu.Unlock()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.Start(ctx, "tp"); err != nil {
		t.Fatal(err)
	}
	events, errc, err := rt.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := statusOf(t, h, "tp").Pid
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, old)
	// A call racing the crash fails as unavailable (the kernel then calls
	// List before retrying); once the restart is announced, calls go through.
	waitFor(t, "restart event", func() bool { _, ok := rec.event(ActionRestart); return ok })

	callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
	defer callCancel()
	pid, err := rt.Start(callCtx, "c1")
	if err != nil {
		t.Fatalf("call after restart: %v", err)
	}
	if int(pid) == old || pid == 0 {
		t.Fatalf("answered by pid %d, old was %d", pid, old)
	}
	st := statusOf(t, h, "tp")
	if st.Restarts != 1 || st.State != StateRunning || st.Pid != int(pid) {
		t.Fatalf("status after restart %+v", st)
	}
	ev, ok := rec.event(ActionExit)
	if !ok || !strings.Contains(ev.Reason, "killed") {
		t.Fatalf("exit event %+v (%v); events %v", ev, ok, rec.actions())
	}
	if _, ok := rec.event(ActionRestart); !ok {
		t.Fatalf("no restart event: %v", rec.actions())
	}
	hookMu.Lock()
	if hookCalls != 1 || hookErr != nil {
		t.Fatalf("hook calls %d, err %v", hookCalls, hookErr)
	}
	hookMu.Unlock()

	// The kernel's event stream survived: first a resync marker, then
	// events of the new process.
	select {
	case ev := <-events:
		if ev.Type != EventResync {
			t.Fatalf("first event after restart %+v, want resync", ev)
		}
	case err := <-errc:
		t.Fatalf("event stream ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no resync event")
	}
	if err := rt.Kill(ctx, "c1", "", syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Type != runtime.EventExit || ev.ContainerID != "c1" || ev.ExitStatus != 128+15 {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit event from the restarted plugin")
	}
}

func TestHungCallHitsDeadline(t *testing.T) {
	h, _ := newTestHost(t, func(c *Config) { c.Timeouts.Runtime = 300 * time.Millisecond })
	if err := h.Register(BuiltinSpec{Name: "tp", Kinds: []base.Kind{base.KindRuntime}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := h.Start(ctx, "tp"); err != nil {
		t.Fatal(err)
	}
	rt, _ := h.Runtime("tp")
	begin := time.Now()
	_, err := rt.Start(ctx, "hang")
	if !errors.Is(err, errdefs.ErrDeadlineExceeded) {
		t.Fatalf("hung call: %v, want deadline exceeded", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("hung call took %v", d)
	}
	// The host and the plugin still serve.
	if _, err := rt.Start(ctx, "ok"); err != nil {
		t.Fatalf("call after a hung one: %v", err)
	}
	st := statusOf(t, h, "tp")
	if st.Restarts != 0 || st.State != StateRunning {
		t.Fatalf("status %+v", st)
	}
}

// A plugin that dies during a call makes the call fail as unavailable, not
// as a timeout.
func TestCallToDyingPluginIsUnavailable(t *testing.T) {
	h, _ := newTestHost(t, nil)
	if err := h.Register(BuiltinSpec{Name: "tp", Kinds: []base.Kind{base.KindRuntime}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := h.Start(ctx, "tp"); err != nil {
		t.Fatal(err)
	}
	rt, _ := h.Runtime("tp")
	pid := statusOf(t, h, "tp").Pid
	errCh := make(chan error, 1)
	go func() {
		_, err := rt.Start(ctx, "hang")
		errCh <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the call reach the plugin
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errCh:
		if !errors.Is(err, errdefs.ErrUnavailable) || errors.Is(err, errdefs.ErrDeadlineExceeded) {
			t.Fatalf("call to a dying plugin: %v, want unavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("call to a dead plugin did not return")
	}
}

func TestPluginExitsWhenParentPipeCloses(t *testing.T) {
	h, rec := newTestHost(t, nil)
	if err := h.Register(BuiltinSpec{Name: "tp", Kinds: []base.Kind{base.KindRuntime}}); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background(), "tp"); err != nil {
		t.Fatal(err)
	}
	in, _ := h.lookup("tp")
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	// Closing berthd's end is what the kernel does when berthd dies.
	if err := p.parentW.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, p.pid)
	waitFor(t, "exit event", func() bool { _, ok := rec.event(ActionExit); return ok })
	if !rec.hasLog("berthd went away", "tp") {
		t.Fatal("plugin did not log why it exited")
	}
	// And the supervisor brings a fresh one back.
	waitFor(t, "restart", func() bool { st := statusOf(t, h, "tp"); return st.State == StateRunning && st.Pid != p.pid })
}

func TestLazyStart(t *testing.T) {
	h, _ := newTestHost(t, nil)
	if err := h.Register(BuiltinSpec{Name: "tp", Kinds: []base.Kind{base.KindRuntime}}); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, h, "tp"); st.State != StateStopped || st.Pid != 0 {
		t.Fatalf("before first call %+v", st)
	}
	rt, _ := h.Runtime("tp")
	tasks, err := rt.List(context.Background())
	if err != nil || len(tasks) != 0 {
		t.Fatalf("List = %v, %v", tasks, err)
	}
	if st := statusOf(t, h, "tp"); st.State != StateRunning || st.Pid == 0 {
		t.Fatalf("after first call %+v", st)
	}
}

func TestStartFailures(t *testing.T) {
	h, rec := newTestHost(t, nil)
	if err := h.Register(BuiltinSpec{Name: "badcfg", Kinds: []base.Kind{base.KindRuntime},
		Config: map[string]string{"fail": "configure"}}); err != nil {
		t.Fatal(err)
	}
	err := h.Start(context.Background(), "badcfg")
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "Configure") {
		t.Fatalf("Start with failing Configure: %v", err)
	}
	if st := statusOf(t, h, "badcfg"); st.State != StateFailed || st.LastError == "" {
		t.Fatalf("status %+v", st)
	}
	if _, ok := rec.event(ActionFail); !ok {
		t.Fatal("no fail event")
	}
	// A lazy call to a plugin that cannot start fails as unavailable.
	rt, _ := h.Runtime("badcfg")
	if _, err := rt.List(context.Background()); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("call to unstartable plugin: %v", err)
	}

	// Info must report the kind the plugin is used as.
	mdir := h.cfg.PluginDir
	writeManifest(t, mdir, "liar", fmt.Sprintf(`{"name":"liar","kinds":["berth.runtime.v1"],"path":%q,"args":["--infokind=berth.volume.v1"]}`, testPluginBin))
	if err := h.LoadManifests(); err != nil {
		t.Fatal(err)
	}
	err = h.Start(context.Background(), "liar")
	if err == nil || !strings.Contains(err.Error(), `kind "berth.volume.v1"`) {
		t.Fatalf("kind mismatch: %v", err)
	}
	for _, st := range h.Plugins() {
		if st.Pid != 0 {
			t.Fatalf("failed plugin %s left pid %d", st.Name, st.Pid)
		}
	}
}

func TestShutdownStopsPlugins(t *testing.T) {
	h, _ := newTestHost(t, nil)
	for _, n := range []string{"a", "b"} {
		if err := h.Register(BuiltinSpec{Name: n, Kinds: []base.Kind{base.KindRuntime}}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := h.Start(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	sts := h.Plugins()
	if len(sts) != 2 || sts[0].Name != "a" || sts[1].Name != "b" {
		t.Fatalf("Plugins order %+v", sts)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		waitGone(t, st.Pid)
		if _, err := os.Stat(pidfilePath(filepath.Join(h.cfg.ExecRoot, "plugins"), st.Name)); !os.IsNotExist(err) {
			t.Fatalf("pidfile of %s left: %v", st.Name, err)
		}
	}
	rt, _ := h.Runtime("a")
	if _, err := rt.List(ctx); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("call after shutdown: %v", err)
	}
	for _, st := range h.Plugins() {
		if st.State != StateStopped || st.Pid != 0 {
			t.Fatalf("after shutdown %+v", st)
		}
	}
}

func TestHealthPolled(t *testing.T) {
	sick := filepath.Join(t.TempDir(), "sick")
	h, rec := newTestHost(t, func(c *Config) { c.HealthInterval = 50 * time.Millisecond })
	if err := h.Register(BuiltinSpec{Name: "tp", Kinds: bothKinds, Config: map[string]string{"sick-file": sick}}); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background(), "tp"); err != nil {
		t.Fatal(err)
	}
	// The graph driver kind answers Unimplemented: that is not unhealthy.
	time.Sleep(300 * time.Millisecond)
	if _, ok := rec.event(ActionUnhealthy); ok {
		t.Fatalf("healthy plugin reported unhealthy: %v", rec.actions())
	}
	if err := os.WriteFile(sick, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unhealthy event", func() bool { _, ok := rec.event(ActionUnhealthy); return ok })
	ev, _ := rec.event(ActionUnhealthy)
	if ev.Name != "tp" || !strings.Contains(ev.Reason, "backend broken") {
		t.Errorf("unhealthy event %+v", ev)
	}
	if st := statusOf(t, h, "tp"); st.LastError == "" || st.State != StateRunning {
		t.Errorf("status while unhealthy: %+v (the process is up; LastError must say why it is unhealthy)", st)
	}
	if err := os.Remove(sick); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "healthy event", func() bool { _, ok := rec.event(ActionHealthy); return ok })
}
