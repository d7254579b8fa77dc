package plugins

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A pidfile records a running plugin process so that the next berthd can
// kill it if this one dies without stopping it. The format is two lines:
//
//	<pid> <start time in clock ticks since boot, /proc/PID/stat field 22>
//	<executable path as /proc/PID/exe showed it at launch>
//
// A process is only ever killed when all three still match: a PID alone may
// have been reused by an unrelated process.
type pidRecord struct {
	Pid       int
	StartTime uint64
	Exe       string
}

func pidfilePath(dir, name string) string { return filepath.Join(dir, name+".pid") }

func writePidfile(dir, name string, rec pidRecord) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create pidfile dir: %w", err)
	}
	data := fmt.Sprintf("%d %d\n%s\n", rec.Pid, rec.StartTime, rec.Exe)
	tmp := pidfilePath(dir, name) + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return fmt.Errorf("write pidfile: %w", err)
	}
	if err := os.Rename(tmp, pidfilePath(dir, name)); err != nil {
		return fmt.Errorf("write pidfile: %w", err)
	}
	return nil
}

func readPidfile(path string) (pidRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return pidRecord{}, err
	}
	first, exe, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(first)
	if len(fields) != 2 {
		return pidRecord{}, fmt.Errorf("pidfile %s: malformed", path)
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil || pid <= 1 {
		return pidRecord{}, fmt.Errorf("pidfile %s: bad pid %q", path, fields[0])
	}
	st, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return pidRecord{}, fmt.Errorf("pidfile %s: bad start time %q", path, fields[1])
	}
	return pidRecord{Pid: pid, StartTime: st, Exe: strings.TrimSpace(exe)}, nil
}

// procStat returns the state (field 3) and start time (field 22) of a process.
func procStat(pid int) (state byte, start uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// comm (field 2) is in parentheses and may hold spaces or ')'; the
	// fields after it start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return fields[0][0], start, nil
}

// procExe reads /proc/PID/exe without the " (deleted)" suffix the kernel
// adds once the binary was replaced (as by a package upgrade of berthd).
func procExe(pid int) (string, error) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(exe, " (deleted)"), nil
}

func processRecord(pid int) (pidRecord, error) {
	_, st, err := procStat(pid)
	if err != nil {
		return pidRecord{}, err
	}
	exe, err := procExe(pid)
	if err != nil {
		return pidRecord{}, err
	}
	return pidRecord{Pid: pid, StartTime: st, Exe: exe}, nil
}

// matches reports whether the live process with rec.Pid is still the one the
// record describes.
func (rec pidRecord) matches() bool {
	cur, err := processRecord(rec.Pid)
	if err != nil {
		return false
	}
	return cur.StartTime == rec.StartTime && cur.Exe == rec.Exe
}

// gone reports whether pid no longer runs (absent, or a zombie waiting for
// its parent to reap it).
func gone(pid int) bool {
	state, _, err := procStat(pid)
	return err != nil || state == 'Z' || state == 'X'
}

// killStale kills the process a pidfile names if it is still that process,
// waits for it to go, and removes the pidfile. It reports whether it killed.
// staleGrace is how long a stale plugin may take to finish its calls and
// exit on its own before it is killed.
var staleGrace = 10 * time.Second

func killStale(path string) (bool, error) {
	rec, err := readPidfile(path)
	if err != nil {
		// An unreadable pidfile can not justify a kill; drop it.
		_ = os.Remove(path)
		return false, err
	}
	if !rec.matches() {
		return false, os.Remove(path)
	}
	// A plugin whose berthd died exits by itself once the calls it is
	// serving end (sdk.Serve): killing it in their middle could cut a
	// containerd operation in half. Give it that time, then kill.
	deadline := time.Now().Add(staleGrace)
	for !gone(rec.Pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if gone(rec.Pid) {
		return true, os.Remove(path)
	}
	if err := syscall.Kill(rec.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, fmt.Errorf("kill stale plugin pid %d: %w", rec.Pid, err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for !gone(rec.Pid) {
		if time.Now().After(deadline) {
			return true, fmt.Errorf("stale plugin pid %d did not exit after SIGKILL", rec.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true, os.Remove(path)
}
