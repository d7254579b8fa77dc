// Package harness starts a real berthd (with its managed containerd) on a
// private root, for the end-to-end tests and the benchmarks, and stops
// everything it started.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// Daemon is one berthd process started by the harness.
type Daemon struct {
	Bin      string // directory with berthd and berth
	Dir      string // private directory holding root, exec-root and socket
	Root     string
	ExecRoot string
	Sock     string
	Args     []string
	// LogLevel is berthd's --log-level; "debug" unless set.
	LogLevel string
	cmd      *exec.Cmd
	log      *os.File
	waitErr  chan error
}

// NewDaemon prepares a daemon under a new directory in /tmp. The directory
// name is short: unix socket paths are limited to 108 bytes.
func NewDaemon(bin string, args ...string) (*Daemon, error) {
	dir, err := os.MkdirTemp("", "bh")
	if err != nil {
		return nil, err
	}
	return &Daemon{
		Bin:      bin,
		Dir:      dir,
		Root:     filepath.Join(dir, "root"),
		ExecRoot: filepath.Join(dir, "run"),
		Sock:     filepath.Join(dir, "berth.sock"),
		Args:     args,
	}, nil
}

func (d *Daemon) logLevel() string {
	if d.LogLevel == "" {
		return "debug"
	}
	return d.LogLevel
}

// Host is the DOCKER_HOST / BERTH_HOST value for this daemon.
func (d *Daemon) Host() string { return "unix://" + d.Sock }

// Pid is berthd's process id, or 0 when it is not running.
func (d *Daemon) Pid() int {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// LogPath is the file berthd's output goes to.
func (d *Daemon) LogPath() string { return filepath.Join(d.Dir, "berthd.log") }

// Start starts berthd and waits until its API answers.
func (d *Daemon) Start(ctx context.Context) error {
	if err := d.StartNoWait(); err != nil {
		return err
	}
	return d.waitReady(ctx)
}

// StartNoWait starts berthd and returns at once.
func (d *Daemon) StartNoWait() error {
	lf, err := os.OpenFile(d.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := append([]string{"--root", d.Root, "--exec-root", d.ExecRoot, "-H", d.Host(), "--log-level", d.logLevel()}, d.Args...)
	cmd := exec.Command(filepath.Join(d.Bin, "berthd"), args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	d.cmd, d.log = cmd, lf
	d.waitErr = make(chan error, 1)
	go func() { d.waitErr <- cmd.Wait() }()
	return nil
}

func (d *Daemon) waitReady(ctx context.Context) error {
	c, err := d.Client()
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.waitErr:
			d.waitErr <- err
			return fmt.Errorf("berthd exited (%v): %s", err, d.Logs())
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := c.Ping(pctx, client.PingOptions{})
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("berthd did not answer within 60s: %s", d.Logs())
}

// Client returns a Docker API client for this daemon, negotiating the version.
func (d *Daemon) Client() (*client.Client, error) {
	return client.New(client.WithHost(d.Host()))
}

// Logs returns the tail of berthd's output.
func (d *Daemon) Logs() string {
	data, _ := os.ReadFile(d.LogPath())
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	return string(data)
}

// Stop stops berthd with SIGTERM (SIGKILL after the timeout). Containers and
// the managed containerd keep running: that is live restore.
func (d *Daemon) Stop(timeout time.Duration) error {
	return d.signalAndWait(syscall.SIGTERM, timeout)
}

// Kill stops berthd with SIGKILL.
func (d *Daemon) Kill() error { return d.signalAndWait(syscall.SIGKILL, 10*time.Second) }

func (d *Daemon) signalAndWait(sig syscall.Signal, timeout time.Duration) error {
	if d.cmd == nil {
		return nil
	}
	defer func() { d.cmd = nil; d.log.Close() }()
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.waitErr:
		return nil
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-d.waitErr
		return fmt.Errorf("berthd did not stop on %v within %s", sig, timeout)
	}
}

// Cleanup stops berthd if it runs, removes every container it knows through a
// fresh daemon when asked to, stops the managed containerd by its pidfile and
// removes the directory. It is safe to call twice.
func (d *Daemon) Cleanup() {
	if d.cmd != nil {
		_ = d.Stop(20 * time.Second)
	}
	out, err := exec.Command(filepath.Join(d.Bin, "berthd"), "containerd", "stop", "--root", d.Root, "--exec-root", d.ExecRoot).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: stopping managed containerd: %v: %s\n", err, out)
	}
	unmountUnder(d.Dir)
	_ = os.RemoveAll(d.Dir)
}

// unmountUnder detaches any mount left below dir (a failed test may leave
// one); it never touches mounts elsewhere.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// PSS sums the proportional set size (bytes) of pid and its child processes,
// so a binary shared by berthd and its plugins counts once.
func PSS(pid int) (int64, []string, error) {
	pids := append([]int{pid}, children(pid)...)
	var total int64
	var names []string
	for _, p := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			return 0, nil, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "Pss:") {
				f := strings.Fields(line)
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				total += kb * 1024
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
				names = append(names, fmt.Sprintf("%d:%s %.1fMB", p, strings.Join(strings.Fields(string(bytes.ReplaceAll(comm, []byte{0}, []byte{' '}))), " "), float64(kb)/1000))
			}
		}
	}
	return total, names, nil
}

// children lists the processes whose parent is pid. /proc/PID/task/*/children
// would miss some: Go starts processes from whichever thread runs.
func children(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces; fields after its closing paren are fixed.
		rest := string(data[bytes.LastIndexByte(data, ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}
