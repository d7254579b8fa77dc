package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/containerd/containerd/v2/client"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// Files of a managed containerd. The config and the log live in its root
// (persistent); the pidfile, the lock and the sockets live in its state dir,
// which is normally on tmpfs, so a pidfile never survives a reboot.
const (
	managedConfig = "config.toml"
	managedLog    = "containerd.log"
	managedPID    = "containerd.pid"
	managedLock   = "containerd.lock"
	managedSocket = "containerd.sock"
	// unixPathMax is the size of sun_path on Linux, including the NUL.
	unixPathMax = 108
	// managedStartTimeout bounds how long a fresh containerd may take to
	// answer on its socket (it needs about 40 ms on this machine kind).
	managedStartTimeout = 15 * time.Second
)

// disabledPlugins are containerd plugins a Berth runtime never uses; turning
// them off keeps the managed containerd's start fast and its log quiet. The
// snapshotters berth does not use are off too; overlayfs and native stay,
// because the metadata plugin wants at least one snapshotter.
var disabledPlugins = []string{
	"io.containerd.grpc.v1.cri",
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.internal.v1.opt",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
	"io.containerd.nri.v1.nri",
}

// ManagedAddress returns the socket address of the containerd managed with
// the given state directory.
func ManagedAddress(state string) string {
	return filepath.Join(state, managedSocket)
}

// ensureManaged returns the address of a running managed containerd for root
// and state, starting one when none answers. The process is started in its
// own session with its own log file so that it outlives the plugin and
// berthd (live restore); a later plugin finds it again through the pidfile.
func ensureManaged(ctx context.Context, root, state string) (string, error) {
	address := ManagedAddress(state)
	if len(address+".ttrpc") >= unixPathMax {
		return "", newError(errdefs.ErrInvalidArgument,
			"containerd socket path %q is too long for a unix socket (max %d bytes): use a shorter state dir", address+".ttrpc", unixPathMax-1)
	}
	for _, dir := range []string{root, state} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return "", fmt.Errorf("create managed containerd dir: %w", err)
		}
	}
	// The lock keeps two plugins (say, a restarted one racing the old one's
	// last call) from starting two containerds on one root.
	unlock, err := lockFile(filepath.Join(state, managedLock))
	if err != nil {
		return "", err
	}
	defer unlock()

	configPath := filepath.Join(root, managedConfig)
	if pid, ok := managedPIDOf(root, state); ok {
		if err := waitServing(ctx, address, pid); err != nil {
			return "", newError(errdefs.ErrUnavailable, "managed containerd (pid %d) does not answer on %s: %v", pid, address, err)
		}
		return address, nil
	}

	if err := writeManagedConfig(configPath, root, state, address); err != nil {
		return "", err
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return "", newError(errdefs.ErrUnavailable, "managed containerd: %v", err)
	}
	logFile, err := os.OpenFile(filepath.Join(root, managedLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return "", fmt.Errorf("open managed containerd log: %w", err)
	}
	defer logFile.Close()
	// A stale socket from a containerd that died would make the wait below
	// talk to nothing; containerd removes it too, but only after it has
	// loaded its plugins.
	_ = os.Remove(address)

	cmd := exec.Command(bin, "--config", configPath)
	cmd.Dir = "/"
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Descriptors the plugin inherited without close-on-exec (the pipe
	// berthd uses to signal its death, say) must not leak into a process
	// that outlives us.
	markInheritedCloexec()
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start managed containerd: %w", err)
	}
	pid := cmd.Process.Pid
	// Reap it if it exits while we run; it is never killed by us here.
	go func() { _ = cmd.Wait() }()
	if err := writeFileAtomic(filepath.Join(state, managedPID), []byte(strconv.Itoa(pid)+"\n")); err != nil {
		return "", fmt.Errorf("write managed containerd pidfile: %w", err)
	}
	if err := waitServing(ctx, address, pid); err != nil {
		return "", newError(errdefs.ErrUnavailable, "managed containerd (pid %d) did not start: %v; see %s",
			pid, err, filepath.Join(root, managedLog))
	}
	return address, nil
}

// writeManagedConfig writes a version 2 containerd config that keeps all of
// this containerd's files under root and state.
func writeManagedConfig(path, root, state, address string) error {
	quoted := make([]string, len(disabledPlugins))
	for i, p := range disabledPlugins {
		quoted[i] = strconv.Quote(p)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by berth's containerd runtime plugin; rewritten at every start.\n")
	fmt.Fprintf(&b, "version = 2\nroot = %s\nstate = %s\n", strconv.Quote(root), strconv.Quote(state))
	fmt.Fprintf(&b, "disabled_plugins = [%s]\n\n", strings.Join(quoted, ", "))
	fmt.Fprintf(&b, "[grpc]\n  address = %s\n\n", strconv.Quote(address))
	fmt.Fprintf(&b, "[ttrpc]\n  address = %s\n", strconv.Quote(address+".ttrpc"))
	if err := writeFileAtomic(path, b.Bytes()); err != nil {
		return fmt.Errorf("write managed containerd config: %w", err)
	}
	return nil
}

// waitServing polls address until containerd answers, the process pid is
// gone, or the start timeout passes.
func waitServing(ctx context.Context, address string, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, managedStartTimeout)
	defer cancel()
	c, err := client.New(address, client.WithTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		probe, cancelProbe := context.WithTimeout(ctx, 250*time.Millisecond)
		ok, err := c.IsServing(probe)
		cancelProbe()
		if err == nil && ok {
			return nil
		}
		if !processAlive(pid) {
			return fmt.Errorf("process %d exited", pid)
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// managedPIDOf returns the pid in the pidfile of state when that process is
// still the containerd started with root's config. A pid alone is never
// trusted: it may have been reused by an unrelated process.
func managedPIDOf(root, state string) (int, bool) {
	data, err := os.ReadFile(filepath.Join(state, managedPID))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if !processAlive(pid) {
		return 0, false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != "containerd" {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, false
	}
	configPath := filepath.Join(root, managedConfig)
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		if arg == configPath {
			return pid, true
		}
	}
	return 0, false
}

// StopManaged stops the managed containerd of root and state, found by its
// pidfile after checking /proc/PID/exe and its command line. It is for tests
// and for an operator's explicit request: berthd never stops containerd on
// shutdown (live restore). Tasks should be deleted first, because their shims
// outlive containerd. A missing or stale pidfile is not an error.
func StopManaged(root, state string) error {
	pidPath := filepath.Join(state, managedPID)
	pid, ok := managedPIDOf(root, state)
	if !ok {
		_ = os.Remove(pidPath)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop managed containerd %d: %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(5 * time.Second)
			for processAlive(pid) {
				if time.Now().After(deadline) {
					return fmt.Errorf("managed containerd %d does not exit", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = os.Remove(pidPath)
	return nil
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain spaces or parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	return data[i+2] != 'Z' && data[i+2] != 'X'
}

// lockFile takes an exclusive flock on path and returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open managed containerd lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock managed containerd: %w", err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// writeFileAtomic replaces path with data through a rename, so a reader
// never sees a half-written pidfile or config.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// markInheritedCloexec sets close-on-exec on every descriptor above stderr.
// Go opens its own descriptors with it; this catches the ones inherited from
// the parent.
func markInheritedCloexec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		unix.CloseOnExec(fd)
	}
}
