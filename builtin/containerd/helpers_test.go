package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/sdk/runtime"
)

// Shared managed containerd of this package's tests: starting one per test
// would cost little (about 40 ms) but leave more to clean up on a failure.
var (
	testRoot  string
	testState string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	// The state dir holds unix sockets, whose paths must stay under 108
	// bytes, so it is a short path in /tmp rather than a t.TempDir.
	base, err := os.MkdirTemp("", "bc")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(base)
	testRoot, testState = filepath.Join(base, "r"), filepath.Join(base, "s")
	code := m.Run()
	if err := StopManaged(testRoot, testState); err != nil {
		fmt.Fprintln(os.Stderr, "stop managed containerd:", err)
		code = 1
	}
	unmountUnder(base)
	return code
}

// unmountUnder lazily unmounts whatever containerd left mounted below dir
// (the shm or bundle mounts of a shim that lost its task), so RemoveAll can
// work.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			_ = syscall.Unmount(f[4], syscall.MNT_DETACH)
		}
	}
}

func testConfig(daemonID string) map[string]string {
	return map[string]string{
		KeyRoot:      testRoot,
		KeyState:     testState,
		KeyDaemonID:  daemonID,
		KeyNamespace: "berth-test",
	}
}

// newTestRuntime configures a runtime against the shared managed containerd.
// Its cleanup removes every container it still owns.
func newTestRuntime(t *testing.T, daemonID string) *Runtime {
	t.Helper()
	r := New()
	if err := r.Configure(context.Background(), testConfig(daemonID)); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tasks, err := r.List(ctx)
		if err != nil {
			t.Errorf("cleanup: List: %v", err)
		}
		for _, task := range tasks {
			removeTask(ctx, t, r, task.ID)
		}
		_ = r.Close()
	})
	return r
}

// removeTask kills a task if it runs, waits for it to stop and deletes it.
func removeTask(ctx context.Context, t *testing.T, r *Runtime, id string) {
	t.Helper()
	st, err := r.State(ctx, id)
	if err == nil && st.Status == runtime.StatusPaused {
		_ = r.Resume(ctx, id)
	}
	if err == nil && st.Status != runtime.StatusStopped {
		_ = r.Kill(ctx, id, "", syscall.SIGKILL, true)
		for i := 0; i < 200; i++ {
			st, err = r.State(ctx, id)
			if err != nil || st.Status == runtime.StatusStopped {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, _, err := r.Delete(ctx, id); err != nil {
		t.Errorf("cleanup: Delete %s: %v", id, err)
	}
}

// busyboxRootfs builds a root filesystem holding only the static busybox
// and links for the applets the tests use.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src, err := os.Open("/usr/bin/busybox")
	if err != nil {
		t.Skipf("busybox-static is needed: %v", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(root, "bin", "busybox"), os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "echo", "sleep", "cat", "true", "ls"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// minimalSpec is a small OCI spec of the kind kernel/spec produces: own
// namespaces, /proc, /dev, /sys, cgroupfs path /berth/<id>.
func minimalSpec(id, rootfs string, args ...string) *specs.Spec {
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/bin"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: rootfs},
		Hostname: "bc",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/berth/" + id,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
			MaskedPaths:   []string{"/proc/kcore", "/proc/keys"},
			ReadonlyPaths: []string{"/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// fifos creates stdout and stderr FIFOs and opens them read-write, as the
// kernel does: the open never blocks and the shim's writes never get EPIPE.
type fifos struct {
	stdio  runtime.Stdio
	stdout *os.File
	stderr *os.File
}

func newFIFOs(t *testing.T, name string) *fifos {
	t.Helper()
	dir := t.TempDir()
	f := &fifos{stdio: runtime.Stdio{
		Stdout: filepath.Join(dir, name+"-stdout"),
		Stderr: filepath.Join(dir, name+"-stderr"),
	}}
	var files []*os.File
	for _, p := range []string{f.stdio.Stdout, f.stdio.Stderr} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
		t.Cleanup(func() { file.Close() })
	}
	f.stdout, f.stderr = files[0], files[1]
	return f
}

// readUntil reads from a FIFO until want appears or the timeout passes.
func readUntil(t *testing.T, f *os.File, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	if err := f.SetReadDeadline(deadline); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), want) {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading %s: got %q, want %q: %v", f.Name(), got, want, err)
		}
	}
	return string(got)
}

// eventLog collects a runtime's events so tests can wait for one.
type eventLog struct {
	events <-chan runtime.Event
	seen   []runtime.Event
}

func openEvents(t *testing.T, r *Runtime) *eventLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, _, err := r.Events(ctx)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return &eventLog{events: ch}
}

// wait returns the first event matching; earlier ones are kept.
func (l *eventLog) wait(t *testing.T, match func(runtime.Event) bool, timeout time.Duration) runtime.Event {
	t.Helper()
	for _, ev := range l.seen {
		if match(ev) {
			return ev
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-l.events:
			if !ok {
				t.Fatal("event stream closed")
			}
			l.seen = append(l.seen, ev)
			if match(ev) {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no matching event within %s; seen %+v", timeout, l.seen)
		}
	}
}

func exitOf(id, execID string) func(runtime.Event) bool {
	return func(ev runtime.Event) bool {
		return ev.Type == runtime.EventExit && ev.ContainerID == id && ev.ExecID == execID
	}
}

// uniqueID gives each test's containers distinct ids, also across reruns
// against a containerd that outlived a failed run.
func uniqueID(t *testing.T, name string) string {
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1e9)
}

func mustCreate(t *testing.T, r *Runtime, id string, stdio runtime.Stdio, args ...string) {
	t.Helper()
	err := r.Create(context.Background(), runtime.CreateRequest{
		ID: id, Spec: minimalSpec(id, busyboxRootfs(t), args...), Stdio: stdio,
		Labels: map[string]string{"test": t.Name()},
	})
	if err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
}

func isClass(err, class error) bool { return errors.Is(err, class) }
