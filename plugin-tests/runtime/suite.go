// Package runtimetest is the conformance suite of the berth.runtime.v1 plugin
// kind. Run it against an implementation directly, over go-plugin's
// in-memory gRPC connection (DialInMemory), or against a plugin binary
// (DialBinary, TestBinary):
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Suite(t, func(t *testing.T) (runtime.Runtime, func()) {
//			rt := myruntime.New()
//			if err := rt.Configure(ctx, settings); err != nil {
//				t.Fatal(err)
//			}
//			return rt, func() { rt.Close() }
//		})
//	}
//
// The factory is called once per case. The suite runs real containers: it
// needs root, runc-style cgroups and /usr/bin/busybox, builds a busybox root
// filesystem per case and uses cgroupsPath /berth-test/<id>.
package runtimetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// eventTimeout bounds the wait for one event.
const eventTimeout = 30 * time.Second

// Suite runs every conformance case against runtimes made by factory, which
// returns a configured runtime and a function that releases it; it is called
// once per case, inside that case's t.Run.
func Suite(t *testing.T, factory func(t *testing.T) (runtime.Runtime, func())) {
	if os.Geteuid() != 0 {
		t.Skip("the runtime suite runs containers and needs root")
	}
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"Base", testBase},
		{"ExitStatusKeptUntilDelete", testExitStatus},
		{"Output", testOutput},
		{"KillRunning", testKill},
		{"CreateIdempotent", testCreateIdempotent},
		{"UnknownID", testUnknownID},
		{"Exec", testExec},
		{"UnconnectedStdio", testUnconnectedStdio},
		{"PauseResume", testPauseResume},
	}
	t.Cleanup(removeTestCgroups)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt, release := factory(t)
			// Registered first, so it runs after the task cleanups below.
			t.Cleanup(release)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			t.Cleanup(cancel)
			h := &harness{t: t, ctx: ctx, rt: rt, root: t.TempDir()}
			// Events is opened before any Start, as the kernel does.
			events, errc, err := rt.Events(ctx)
			if err != nil {
				t.Fatalf("Events: %v", err)
			}
			h.events, h.errc = events, errc
			c.run(t, h)
		})
	}
}

// harness is the state of one case.
type harness struct {
	t      *testing.T
	ctx    context.Context
	rt     runtime.Runtime
	root   string
	events <-chan runtime.Event
	errc   <-chan error
}

// container is a task the suite created, with its stdio.
type container struct {
	id     string
	req    runtime.CreateRequest
	stdout *os.File
	stderr *os.File
}

// fifo makes a FIFO and opens it read-write, as the kernel does before
// Create, so that neither side blocks on open.
func (h *harness) fifo(path string) *os.File {
	h.t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		h.t.Fatalf("mkfifo %s: %v", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		h.t.Fatalf("open %s: %v", path, err)
	}
	h.t.Cleanup(func() { f.Close() })
	return f
}

func randomID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// create creates a task running args in a fresh busybox rootfs, with
// stdout and stderr connected, and registers its removal.
func (h *harness) create(args ...string) *container {
	h.t.Helper()
	return h.createStdio(true, args...)
}

// createStdio is create with stderr connected or left empty ("not
// connected").
func (h *harness) createStdio(withStderr bool, args ...string) *container {
	h.t.Helper()
	id := randomID("suite")
	dir := filepath.Join(h.root, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.t.Fatal(err)
	}
	rootfs := BusyboxRootfs(h.t, filepath.Join(dir, "rootfs"))
	c := &container{id: id}
	c.stdout = h.fifo(filepath.Join(dir, "stdout"))
	stdio := runtime.Stdio{Stdout: c.stdout.Name()}
	if withStderr {
		c.stderr = h.fifo(filepath.Join(dir, "stderr"))
		stdio.Stderr = c.stderr.Name()
	}
	c.req = runtime.CreateRequest{
		ID:     id,
		Spec:   NewSpec(id, rootfs, args...),
		Stdio:  stdio,
		Labels: map[string]string{"berth.test": "suite"},
	}
	if err := h.rt.Create(h.ctx, c.req); err != nil {
		h.t.Fatalf("Create(%s): %v", id, err)
	}
	h.t.Cleanup(func() { h.remove(id) })
	return c
}

// remove kills and deletes a task the case left behind, so no shim or
// process outlives the case.
func (h *harness) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	task, err := h.rt.State(ctx, id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return
	}
	if err == nil && task.Status == runtime.StatusPaused {
		_ = h.rt.Resume(ctx, id)
	}
	if err == nil && task.Status != runtime.StatusStopped && task.Status != runtime.StatusCreated {
		_ = h.rt.Kill(ctx, id, "", syscall.SIGKILL, true)
		for ctx.Err() == nil {
			if task, err := h.rt.State(ctx, id); err != nil || task.Status == runtime.StatusStopped {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, _, err := h.rt.Delete(ctx, id); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		h.t.Errorf("cleanup: Delete(%s): %v", id, err)
	}
}

func (h *harness) start(c *container) uint32 {
	h.t.Helper()
	pid, err := h.rt.Start(h.ctx, c.id)
	if err != nil {
		h.t.Fatalf("Start(%s): %v", c.id, err)
	}
	if pid == 0 {
		h.t.Errorf("Start(%s) returned pid 0", c.id)
	}
	return pid
}

// waitExit returns the exit event of the process id/execID, skipping others.
func (h *harness) waitExit(id, execID string) runtime.Event {
	h.t.Helper()
	timeout := time.After(eventTimeout)
	for {
		select {
		case ev, ok := <-h.events:
			if !ok {
				h.t.Fatalf("event stream ended while waiting for the exit of %s %s: %v", id, execID, <-h.errc)
			}
			if ev.Type == runtime.EventExit && ev.ContainerID == id && ev.ExecID == execID {
				return ev
			}
		case <-timeout:
			h.t.Fatalf("no exit event for %s (exec %q) within %v", id, execID, eventTimeout)
		}
	}
}

// readLine reads one line from a FIFO the suite holds open.
func readLine(t *testing.T, f *os.File) string {
	t.Helper()
	if err := f.SetReadDeadline(time.Now().Add(eventTimeout)); err != nil {
		t.Fatalf("set deadline on %s: %v", f.Name(), err)
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		t.Fatalf("read %s: %v (got %q)", f.Name(), err, line)
	}
	return line
}

func (h *harness) state(id string) runtime.Task {
	h.t.Helper()
	task, err := h.rt.State(h.ctx, id)
	if err != nil {
		h.t.Fatalf("State(%s): %v", id, err)
	}
	if task.ID != id {
		h.t.Errorf("State(%s) answered for %q", id, task.ID)
	}
	return task
}

// listed returns the task id from List.
func (h *harness) listed(id string) (runtime.Task, bool) {
	h.t.Helper()
	tasks, err := h.rt.List(h.ctx)
	if err != nil {
		h.t.Fatalf("List: %v", err)
	}
	for _, task := range tasks {
		if task.ID == id {
			return task, true
		}
	}
	return runtime.Task{}, false
}

// waitStatus polls State until the task reaches want.
func (h *harness) waitStatus(id string, want runtime.Status) runtime.Task {
	h.t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for {
		task := h.state(id)
		if task.Status == want {
			return task
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("State(%s) = %s, want %s", id, task.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testBase(t *testing.T, h *harness) {
	info, err := h.rt.Info(h.ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindRuntime || info.Name == "" {
		t.Errorf("Info = %+v, want kind %s and a name", info, base.KindRuntime)
	}
	if err := h.rt.Health(h.ctx); err != nil {
		t.Errorf("Health: %v", err)
	}
}

func testExitStatus(t *testing.T, h *harness) {
	c := h.create("sh", "-c", "exit 3")
	if task := h.state(c.id); task.Status != runtime.StatusCreated {
		t.Errorf("State after Create = %s, want %s", task.Status, runtime.StatusCreated)
	}
	pid := h.start(c)
	ev := h.waitExit(c.id, "")
	if ev.ExitStatus != 3 {
		t.Errorf("exit event status = %d, want 3", ev.ExitStatus)
	}
	if ev.Pid != pid {
		t.Errorf("exit event pid = %d, want %d from Start", ev.Pid, pid)
	}
	if ev.ExitedAt.IsZero() {
		t.Error("exit event has no exit time")
	}

	// The runtime keeps the exited task until the kernel deletes it.
	task := h.waitStatus(c.id, runtime.StatusStopped)
	if task.ExitStatus != 3 {
		t.Errorf("State after exit: status %d, want 3", task.ExitStatus)
	}
	if task.Stdio.Stdout != c.req.Stdio.Stdout {
		t.Errorf("State stdout = %q, want %q", task.Stdio.Stdout, c.req.Stdio.Stdout)
	}
	if lt, ok := h.listed(c.id); !ok || lt.Status != runtime.StatusStopped || lt.ExitStatus != 3 {
		t.Errorf("List after exit: %+v (listed %v), want stopped with status 3", lt, ok)
	}

	status, exitedAt, err := h.rt.Delete(h.ctx, c.id)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if status != 3 || exitedAt.IsZero() {
		t.Errorf("Delete = %d at %v, want 3 and the exit time", status, exitedAt)
	}
	if _, err := h.rt.State(h.ctx, c.id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("State after Delete: %v, want not found", err)
	}
	if _, ok := h.listed(c.id); ok {
		t.Error("List still shows the deleted task")
	}
	if _, _, err := h.rt.Delete(h.ctx, c.id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Delete: %v, want not found", err)
	}
}

func testOutput(t *testing.T, h *harness) {
	c := h.create("sh", "-c", "echo hello-out; echo hello-err >&2")
	h.start(c)
	if got := readLine(t, c.stdout); got != "hello-out\n" {
		t.Errorf("stdout = %q", got)
	}
	if got := readLine(t, c.stderr); got != "hello-err\n" {
		t.Errorf("stderr = %q", got)
	}
	if ev := h.waitExit(c.id, ""); ev.ExitStatus != 0 {
		t.Errorf("exit status = %d, want 0", ev.ExitStatus)
	}
}

func testKill(t *testing.T, h *harness) {
	c := h.create("sleep", "1000")
	pid := h.start(c)
	task := h.state(c.id)
	if task.Status != runtime.StatusRunning || task.Pid != pid {
		t.Errorf("State of a running task = %+v, want running with pid %d", task, pid)
	}
	if lt, ok := h.listed(c.id); !ok || lt.Status != runtime.StatusRunning || lt.Labels["berth.test"] != "suite" {
		t.Errorf("List of a running task: %+v (listed %v), want running with its labels", lt, ok)
	}
	// Start is idempotent on a running task.
	if again, err := h.rt.Start(h.ctx, c.id); err != nil {
		t.Errorf("second Start of a running task: %v", err)
	} else if again != pid {
		t.Errorf("second Start = pid %d, want %d", again, pid)
	}
	if err := h.rt.Kill(h.ctx, c.id, "", syscall.SIGKILL, false); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	ev := h.waitExit(c.id, "")
	if ev.ExitStatus != 128+uint32(syscall.SIGKILL) && ev.ExitStatus != 128+uint32(syscall.SIGTERM) {
		t.Errorf("exit status after SIGKILL = %d, want 137", ev.ExitStatus)
	}
	task = h.waitStatus(c.id, runtime.StatusStopped)
	if task.ExitStatus != ev.ExitStatus {
		t.Errorf("State exit status %d, event said %d", task.ExitStatus, ev.ExitStatus)
	}
	if status, _, err := h.rt.Delete(h.ctx, c.id); err != nil || status != ev.ExitStatus {
		t.Errorf("Delete = %d, %v; want %d", status, err, ev.ExitStatus)
	}
}

func testCreateIdempotent(t *testing.T, h *harness) {
	c := h.create("sh", "-c", "exit 0")
	if err := h.rt.Create(h.ctx, c.req); err != nil {
		t.Fatalf("second Create with the same spec: %v", err)
	}
	h.start(c)
	if ev := h.waitExit(c.id, ""); ev.ExitStatus != 0 {
		t.Errorf("exit status = %d", ev.ExitStatus)
	}
}

func testUnknownID(t *testing.T, h *harness) {
	id := randomID("unknown")
	if _, err := h.rt.Start(h.ctx, id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Start: %v, want not found", err)
	}
	if _, err := h.rt.State(h.ctx, id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("State: %v, want not found", err)
	}
	if _, _, err := h.rt.Delete(h.ctx, id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Delete: %v, want not found", err)
	}
	if err := h.rt.Kill(h.ctx, id, "", syscall.SIGKILL, false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Kill: %v, want not found", err)
	}
}

func testExec(t *testing.T, h *harness) {
	c := h.create("sleep", "1000")
	h.start(c)
	out := h.fifo(filepath.Join(h.root, c.id, "exec-stdout"))
	errOut := h.fifo(filepath.Join(h.root, c.id, "exec-stderr"))
	proc := *c.req.Spec.Process
	proc.Args = []string{"sh", "-c", "echo from-exec; exit 5"}
	pid, err := h.rt.Exec(h.ctx, runtime.ExecRequest{
		ContainerID: c.id,
		ExecID:      "exec1",
		Process:     &proc,
		Stdio:       runtime.Stdio{Stdout: out.Name(), Stderr: errOut.Name()},
	})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if pid == 0 {
		t.Error("Exec returned pid 0")
	}
	if got := readLine(t, out); got != "from-exec\n" {
		t.Errorf("exec stdout = %q", got)
	}
	ev := h.waitExit(c.id, "exec1")
	if ev.ExitStatus != 5 {
		t.Errorf("exec exit status = %d, want 5", ev.ExitStatus)
	}
	if err := h.rt.DeleteExec(h.ctx, c.id, "exec1"); err != nil {
		t.Errorf("DeleteExec: %v", err)
	}
	// The exec's exit does not stop the task.
	if task := h.state(c.id); task.Status != runtime.StatusRunning {
		t.Errorf("task after the exec exited: %s, want running", task.Status)
	}
	if _, err := h.rt.Exec(h.ctx, runtime.ExecRequest{ContainerID: randomID("unknown"), ExecID: "x", Process: &proc}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Exec in an unknown task: %v, want not found", err)
	}
}

func testPauseResume(t *testing.T, h *harness) {
	c := h.create("sleep", "1000")
	h.start(c)
	if err := h.rt.Pause(h.ctx, c.id); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	h.waitStatus(c.id, runtime.StatusPaused)
	if err := h.rt.Resume(h.ctx, c.id); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	h.waitStatus(c.id, runtime.StatusRunning)
	if st, err := h.rt.Stats(h.ctx, c.id); err != nil {
		if !errors.Is(err, errdefs.ErrUnimplemented) {
			t.Errorf("Stats: %v", err)
		}
	} else if st.PidsCurrent == 0 && st.MemoryUsage == 0 && st.CPUTotal == 0 {
		t.Errorf("Stats of a running task are all zero: %+v", st)
	}
}

// testUnconnectedStdio checks that an empty stdio path means "not
// connected", for the init process and for an exec.
func testUnconnectedStdio(t *testing.T, h *harness) {
	c := h.create("sleep", "1000")
	if c.req.Stdio.Stdin != "" {
		t.Fatal("the suite's tasks are meant to run without stdin")
	}
	h.start(c)
	out := h.fifo(filepath.Join(h.root, c.id, "exec-stdout"))
	proc := *c.req.Spec.Process
	proc.Args = []string{"sh", "-c", "echo only-stdout; echo lost >&2"}
	if _, err := h.rt.Exec(h.ctx, runtime.ExecRequest{
		ContainerID: c.id,
		ExecID:      "exec-no-stderr",
		Process:     &proc,
		Stdio:       runtime.Stdio{Stdout: out.Name()},
	}); err != nil {
		t.Fatalf("Exec with stderr not connected: %v", err)
	}
	if got := readLine(t, out); got != "only-stdout\n" {
		t.Errorf("exec stdout = %q", got)
	}
	if ev := h.waitExit(c.id, "exec-no-stderr"); ev.ExitStatus != 0 {
		t.Errorf("exec exit status = %d, want 0", ev.ExitStatus)
	}

	// The init process with stderr not connected: it runs, its stdout
	// arrives, and List gives back the paths as they were given, so that
	// the kernel reopens the right FIFOs at restore.
	init := h.createStdio(false, "sh", "-c", "echo lost >&2; echo init-stdout; sleep 1000")
	h.start(init)
	if got := readLine(t, init.stdout); got != "init-stdout\n" {
		t.Errorf("init stdout = %q", got)
	}
	task, ok := h.listed(init.id)
	if !ok {
		t.Fatalf("List does not have %s", init.id)
	}
	if task.Status != runtime.StatusRunning {
		t.Errorf("List: %s status = %s, want running", init.id, task.Status)
	}
	if task.Stdio.Stdout != init.req.Stdio.Stdout || task.Stdio.Stderr != "" || task.Stdio.Stdin != "" {
		t.Errorf("List: %s stdio = %+v, want stdout %q and no stdin or stderr", init.id, task.Stdio, init.req.Stdio.Stdout)
	}
}

// removeTestCgroups removes the /berth-test parent cgroups the suite's
// cgroupsPath made, in every hierarchy; rmdir only succeeds when they are
// empty, so another run's containers are never touched.
func removeTestCgroups() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/berth-test")
	dirs = append(dirs, "/sys/fs/cgroup/berth-test")
	for _, dir := range dirs {
		_ = syscall.Rmdir(dir)
	}
}
