package containerd

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

func TestInfo(t *testing.T) {
	info, err := New().Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "containerd" || info.Kind != base.KindRuntime || len(info.Capabilities) != 1 || info.Capabilities[0] != runtime.CapCgroupfs {
		t.Fatalf("Info = %+v", info)
	}
}

func TestConfigureRejects(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]map[string]string{
		"unknown key":       {KeyDaemonID: "d", KeyAddress: "/nonexistent.sock", "colour": "blue"},
		"missing daemon-id": {KeyAddress: "/nonexistent.sock"},
		"managed no root":   {KeyDaemonID: "d"},
		"bad namespace":     {KeyDaemonID: "d", KeyAddress: "/nonexistent.sock", KeyNamespace: "no/slash"},
		"long socket path":  {KeyDaemonID: "d", KeyRoot: t.TempDir(), KeyState: "/tmp/" + strings.Repeat("x", 100)},
	} {
		if err := New().Configure(ctx, cfg); !isClass(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: Configure = %v, want invalid argument", name, err)
		}
	}
	if _, err := New().List(ctx); !isClass(err, errdefs.ErrUnavailable) {
		t.Errorf("List before Configure = %v, want unavailable", err)
	}
}

func TestManagedStartAndReuse(t *testing.T) {
	r := newTestRuntime(t, "daemon-a")
	pid, ok := managedPIDOf(testRoot, testState)
	if !ok {
		t.Fatal("no managed containerd found through the pidfile")
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil || filepath.Base(exe) != "containerd" {
		t.Fatalf("pid %d runs %q (%v)", pid, exe, err)
	}
	// It runs in its own session, so it outlives the plugin.
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("containerd session = %d (%v), want its own (%d)", sid, err, pid)
	}
	for _, f := range []string{filepath.Join(testRoot, managedConfig), filepath.Join(testRoot, managedLog)} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if r.Address() != ManagedAddress(testState) {
		t.Errorf("Address = %q", r.Address())
	}

	second := New()
	if err := second.Configure(context.Background(), testConfig("daemon-a")); err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if pid2, _ := managedPIDOf(testRoot, testState); pid2 != pid {
		t.Fatalf("second Configure started pid %d, want reuse of %d", pid2, pid)
	}
	if err := second.Health(context.Background()); err != nil {
		t.Fatalf("Health: %v", err)
	}
}

func TestRunHelloListDelete(t *testing.T) {
	ctx := context.Background()
	r := newTestRuntime(t, "daemon-a")
	ev := openEvents(t, r)
	id := uniqueID(t, "hello")
	io := newFIFOs(t, id)
	mustCreate(t, r, id, io.stdio, "sh", "-c", "echo hello; echo oops >&2")

	st, err := r.State(ctx, id)
	if err != nil || st.Status != runtime.StatusCreated {
		t.Fatalf("State after Create = %+v, %v", st, err)
	}
	pid, err := r.Start(ctx, id)
	if err != nil || pid == 0 {
		t.Fatalf("Start = %d, %v", pid, err)
	}
	readUntil(t, io.stdout, "hello", 10*time.Second)
	readUntil(t, io.stderr, "oops", 10*time.Second)
	exit := ev.wait(t, exitOf(id, ""), 10*time.Second)
	if exit.ExitStatus != 0 || exit.Pid != pid || exit.ExitedAt.IsZero() {
		t.Fatalf("exit event = %+v, want status 0 of pid %d", exit, pid)
	}

	// The runtime keeps the stopped task until the kernel deletes it.
	tasks, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *runtime.Task
	for i := range tasks {
		if tasks[i].ID == id {
			found = &tasks[i]
		}
	}
	if found == nil {
		t.Fatalf("List = %+v, want %s", tasks, id)
	}
	if found.Status != runtime.StatusStopped || found.ExitStatus != 0 || found.ExitedAt.IsZero() ||
		found.Stdio.Stdout != io.stdio.Stdout || found.Stdio.Stderr != io.stdio.Stderr ||
		found.Labels[LabelDaemon] != "daemon-a" || found.Labels["test"] != t.Name() {
		t.Fatalf("listed task = %+v", *found)
	}
	if _, err := r.Start(ctx, id); !isClass(err, errdefs.ErrConflict) {
		t.Errorf("Start of an exited task = %v, want conflict", err)
	}

	status, exitedAt, err := r.Delete(ctx, id)
	if err != nil || status != 0 || !exitedAt.Equal(exit.ExitedAt) {
		t.Fatalf("Delete = %d, %v, %v; want 0 at %v", status, exitedAt, err, exit.ExitedAt)
	}
	if _, err := r.State(ctx, id); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("State after Delete = %v, want not found", err)
	}
	if _, _, err := r.Delete(ctx, id); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("second Delete = %v, want not found", err)
	}
	// The kernel's FIFOs are its own: deleting the task leaves them.
	if _, err := os.Stat(io.stdio.Stdout); err != nil {
		t.Errorf("stdout FIFO removed: %v", err)
	}
}

func TestExitStatus(t *testing.T) {
	ctx := context.Background()
	r := newTestRuntime(t, "daemon-a")
	ev := openEvents(t, r)
	id := uniqueID(t, "exit3")
	mustCreate(t, r, id, runtime.Stdio{}, "sh", "-c", "exit 3")
	if _, err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if exit := ev.wait(t, exitOf(id, ""), 10*time.Second); exit.ExitStatus != 3 {
		t.Fatalf("exit = %+v, want 3", exit)
	}
	st, err := r.State(ctx, id)
	if err != nil || st.Status != runtime.StatusStopped || st.ExitStatus != 3 {
		t.Fatalf("State = %+v, %v", st, err)
	}
	if status, _, err := r.Delete(ctx, id); err != nil || status != 3 {
		t.Fatalf("Delete = %d, %v; want 3", status, err)
	}
}

func TestIdempotentCreateStartAndKill(t *testing.T) {
	ctx := context.Background()
	r := newTestRuntime(t, "daemon-a")
	ev := openEvents(t, r)
	id := uniqueID(t, "kill")
	mustCreate(t, r, id, runtime.Stdio{}, "sleep", "100")
	mustCreate(t, r, id, runtime.Stdio{}, "sleep", "100")
	pid, err := r.Start(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := r.Start(ctx, id); err != nil || again != pid {
		t.Fatalf("second Start = %d, %v; want %d", again, err, pid)
	}
	mustCreate(t, r, id, runtime.Stdio{}, "sleep", "100")
	if _, _, err := r.Delete(ctx, id); !isClass(err, errdefs.ErrConflict) {
		t.Fatalf("Delete of a running task = %v, want conflict", err)
	}
	if err := r.Kill(ctx, id, "", syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if exit := ev.wait(t, exitOf(id, ""), 10*time.Second); exit.ExitStatus != 137 {
		t.Fatalf("exit = %+v, want 137", exit)
	}
	if status, _, err := r.Delete(ctx, id); err != nil || status != 137 {
		t.Fatalf("Delete = %d, %v; want 137", status, err)
	}
}

func TestDeleteCreatedTask(t *testing.T) {
	ctx := context.Background()
	r := newTestRuntime(t, "daemon-a")
	id := uniqueID(t, "created")
	mustCreate(t, r, id, runtime.Stdio{}, "true")
	if _, _, err := r.Delete(ctx, id); err != nil {
		t.Fatalf("Delete of a created task: %v", err)
	}
	if _, err := r.State(ctx, id); !isClass(err, errdefs.ErrNotFound) {
		t.Fatalf("State after Delete = %v", err)
	}
}

func TestMissingExecutable(t *testing.T) {
	ctx := context.Background()
	r := newTestRuntime(t, "daemon-a")
	id := uniqueID(t, "nope")
	err := r.Create(ctx, runtime.CreateRequest{ID: id, Spec: minimalSpec(id, busyboxRootfs(t), "nope")})
	if err == nil {
		// runc may also report it at start.
		_, err = r.Start(ctx, id)
	}
	if err == nil || !strings.Contains(err.Error(), `exec: "nope": executable file not found in $PATH`) {
		t.Fatalf("error = %v, want runc's message", err)
	}
	t.Logf("runc's error: %v", err)
	// The failed Create unwound its container record.
	if _, err := r.State(ctx, id); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("State after a failed Create = %v, want not found", err)
	}
	tasks, lerr := r.List(ctx)
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, task := range tasks {
		if task.ID == id && task.Status != runtime.StatusCreated {
			t.Errorf("failed create left %+v", task)
		}
	}
}

func TestExec(t *testing.T) {
	ctx := context.Background()
	r := newTestRuntime(t, "daemon-a")
	ev := openEvents(t, r)
	id := uniqueID(t, "exec")
	mustCreate(t, r, id, runtime.Stdio{}, "sleep", "100")
	if _, err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	io := newFIFOs(t, "exec1")
	pid, err := r.Exec(ctx, runtime.ExecRequest{
		ContainerID: id, ExecID: "exec1", Stdio: io.stdio,
		Process: &specs.Process{Args: []string{"sh", "-c", "echo from-exec; exit 5"}, Env: []string{"PATH=/bin"}, Cwd: "/"},
	})
	if err != nil || pid == 0 {
		t.Fatalf("Exec = %d, %v", pid, err)
	}
	readUntil(t, io.stdout, "from-exec", 10*time.Second)
	exit := ev.wait(t, exitOf(id, "exec1"), 10*time.Second)
	if exit.ExitStatus != 5 || exit.Pid != pid {
		t.Fatalf("exec exit = %+v, want status 5 of pid %d", exit, pid)
	}
	if err := r.DeleteExec(ctx, id, "exec1"); err != nil {
		t.Fatalf("DeleteExec: %v", err)
	}
	if err := r.DeleteExec(ctx, id, "exec1"); !isClass(err, errdefs.ErrNotFound) {
		t.Errorf("second DeleteExec = %v, want not found", err)
	}

	_, err = r.Exec(ctx, runtime.ExecRequest{
		ContainerID: id, ExecID: "exec2",
		Process: &specs.Process{Args: []string{"nope"}, Env: []string{"PATH=/bin"}, Cwd: "/"},
	})
	if err == nil || !strings.Contains(err.Error(), `exec: "nope": executable file not found in $PATH`) {
		t.Fatalf("Exec of a missing binary = %v, want runc's message", err)
	}
	// The failed exec was removed, so its id can be used again.
	if _, err := r.Exec(ctx, runtime.ExecRequest{
		ContainerID: id, ExecID: "exec2",
		Process: &specs.Process{Args: []string{"true"}, Env: []string{"PATH=/bin"}, Cwd: "/"},
	}); err != nil {
		t.Fatalf("Exec reusing a failed exec id: %v", err)
	}
	ev.wait(t, exitOf(id, "exec2"), 10*time.Second)
	if st, err := r.State(ctx, id); err != nil || st.Status != runtime.StatusRunning {
		t.Fatalf("init after execs: %+v, %v", st, err)
	}
}

func TestPauseResumeUpdateStats(t *testing.T) {
	ctx := context.Background()
	r := newTestRuntime(t, "daemon-a")
	id := uniqueID(t, "pause")
	mustCreate(t, r, id, runtime.Stdio{}, "sleep", "100")
	if _, err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st, err := r.State(ctx, id); err != nil || st.Status != runtime.StatusPaused {
		t.Fatalf("State after Pause = %+v, %v", st, err)
	}
	if pid, err := r.Start(ctx, id); err != nil || pid == 0 {
		t.Errorf("Start of a paused task = %d, %v", pid, err)
	}
	if err := r.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st, err := r.State(ctx, id); err != nil || st.Status != runtime.StatusRunning {
		t.Fatalf("State after Resume = %+v, %v", st, err)
	}

	limit := int64(64 << 20)
	pids := int64(50)
	if err := r.Update(ctx, id, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, Pids: &specs.LinuxPids{Limit: &pids}}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	st, err := r.Stats(ctx, id)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.MemoryLimit != uint64(limit) || st.PidsLimit != uint64(pids) || st.PidsCurrent < 1 ||
		st.MemoryUsage == 0 || st.CPUTotal == 0 || st.Read.IsZero() {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestOtherDaemonsObjectsAreUntouched(t *testing.T) {
	ctx := context.Background()
	mine := newTestRuntime(t, "daemon-a")
	other := newTestRuntime(t, "daemon-b")
	myEvents := openEvents(t, mine)
	otherEvents := openEvents(t, other)

	id := uniqueID(t, "theirs")
	mustCreate(t, other, id, runtime.Stdio{}, "sh", "-c", "exit 7")

	// A bare container without any label, as another tool would make it.
	bare := uniqueID(t, "bare")
	c, err := client.New(mine.Address())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nsCtx := namespaces.WithNamespace(ctx, "berth-test")
	if _, err := c.NewContainer(nsCtx, bare, client.WithRuntime(DefaultShim, nil), client.WithSpec(minimalSpec(bare, "/nonexistent", "true"))); err != nil {
		t.Fatal(err)
	}
	defer c.ContainerService().Delete(context.WithoutCancel(nsCtx), bare)

	tasks, err := mine.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.ID == id || task.ID == bare {
			t.Fatalf("List shows a foreign container: %+v", task)
		}
	}
	for _, target := range []string{id, bare} {
		if _, err := mine.State(ctx, target); !isClass(err, errdefs.ErrNotFound) {
			t.Errorf("State(%s) = %v, want not found", target, err)
		}
		if err := mine.Kill(ctx, target, "", syscall.SIGKILL, true); !isClass(err, errdefs.ErrNotFound) {
			t.Errorf("Kill(%s) = %v, want not found", target, err)
		}
		if _, _, err := mine.Delete(ctx, target); !isClass(err, errdefs.ErrNotFound) {
			t.Errorf("Delete(%s) = %v, want not found", target, err)
		}
		err := mine.Create(ctx, runtime.CreateRequest{ID: target, Spec: minimalSpec(target, "/nonexistent", "true")})
		if !isClass(err, errdefs.ErrConflict) {
			t.Errorf("Create(%s) over a foreign container = %v, want conflict", target, err)
		}
	}

	// The other daemon's exit reaches it, and not us.
	if _, err := other.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if exit := otherEvents.wait(t, exitOf(id, ""), 10*time.Second); exit.ExitStatus != 7 {
		t.Fatalf("other's exit = %+v", exit)
	}
	// Our own exit, sent after theirs, proves our stream has passed theirs.
	own := uniqueID(t, "mine")
	mustCreate(t, mine, own, runtime.Stdio{}, "true")
	if _, err := mine.Start(ctx, own); err != nil {
		t.Fatal(err)
	}
	myEvents.wait(t, exitOf(own, ""), 10*time.Second)
	for _, ev := range myEvents.seen {
		if ev.ContainerID == id {
			t.Fatalf("foreign event delivered: %+v", ev)
		}
	}
	if st, err := other.State(ctx, id); err != nil || st.ExitStatus != 7 {
		t.Fatalf("other's task after our calls = %+v, %v", st, err)
	}
}

func TestEventsEndWithContext(t *testing.T) {
	r := newTestRuntime(t, "daemon-a")
	ctx, cancel := context.WithCancel(context.Background())
	ch, errc, err := r.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event channel not closed after cancel")
	}
	if err := <-errc; err != nil {
		t.Fatalf("errc after cancel = %v, want nil", err)
	}
}

func TestTasksOutliveThePlugin(t *testing.T) {
	ctx := context.Background()
	first := New()
	if err := first.Configure(ctx, testConfig("daemon-a")); err != nil {
		t.Fatal(err)
	}
	id := uniqueID(t, "restore")
	io := newFIFOs(t, id)
	mustCreate(t, first, id, io.stdio, "sh", "-c", "echo up; sleep 100")
	pid, err := first.Start(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, io.stdout, "up", 10*time.Second)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted plugin finds the running task, with its stdio, and can
	// stop it.
	second := newTestRuntime(t, "daemon-a")
	ev := openEvents(t, second)
	tasks, err := second.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, task := range tasks {
		if task.ID == id {
			found = true
			if task.Status != runtime.StatusRunning || task.Pid != pid || task.Stdio.Stdout != io.stdio.Stdout {
				t.Fatalf("task after plugin restart = %+v, want running pid %d", task, pid)
			}
		}
	}
	if !found {
		t.Fatalf("List after plugin restart = %+v, want %s", tasks, id)
	}
	if err := second.Kill(ctx, id, "", syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if exit := ev.wait(t, exitOf(id, ""), 10*time.Second); exit.ExitStatus != 137 {
		t.Fatalf("exit = %+v, want 137", exit)
	}
	if _, _, err := second.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// TestHealthRestartsManagedContainerd runs last: it replaces the shared
// containerd.
func TestHealthRestartsManagedContainerd(t *testing.T) {
	ctx := context.Background()
	r := newTestRuntime(t, "daemon-a")
	old, ok := managedPIDOf(testRoot, testState)
	if !ok {
		t.Fatal("no managed containerd")
	}
	if err := StopManaged(testRoot, testState); err != nil {
		t.Fatal(err)
	}
	if processAlive(old) {
		t.Fatalf("containerd %d still runs after StopManaged", old)
	}
	if err := r.Health(ctx); err != nil {
		t.Fatalf("Health after containerd died: %v", err)
	}
	pid, ok := managedPIDOf(testRoot, testState)
	if !ok || pid == old {
		t.Fatalf("managed containerd after Health: pid %d (found %v), old %d", pid, ok, old)
	}
	if err := r.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	if _, err := r.List(ctx); err != nil {
		t.Fatalf("List on the new containerd: %v", err)
	}
}
