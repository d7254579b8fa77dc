package plugins

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestProcStat(t *testing.T) {
	state, start, err := procStat(os.Getpid())
	if err != nil || start == 0 || state != 'R' && state != 'S' {
		t.Fatalf("procStat(self) = %c, %d, %v", state, start, err)
	}
}

func TestCleanStale(t *testing.T) {
	// The processes here never exit by themselves; don't wait the grace.
	old := staleGrace
	staleGrace = 50 * time.Millisecond
	t.Cleanup(func() { staleGrace = old })
	h, _ := newTestHost(t, nil)
	dir := filepath.Join(h.cfg.ExecRoot, "plugins")

	match := startSleeper(t)
	other := startSleeper(t)
	otherExe := startSleeper(t)
	recMatch, err := processRecord(match.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	recOther, err := processRecord(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// Same pid, but a different start time: the pid was reused.
	recOther.StartTime++
	recExe, err := processRecord(otherExe.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	recExe.Exe = "/usr/lib/berth/some-other-binary"
	for name, rec := range map[string]pidRecord{"match": recMatch, "other": recOther, "exe": recExe} {
		if err := writePidfile(dir, name, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.pid"), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := h.killStalePlugins(); err == nil {
		t.Fatal("malformed pidfile not reported")
	}
	err = match.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("matching stale process: wait = %v, want killed", err)
	}
	for _, c := range []*exec.Cmd{other, otherExe} {
		if gone(c.Process.Pid) {
			t.Fatalf("unrelated process %d was killed", c.Process.Pid)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	if len(left) != 0 {
		t.Fatalf("pidfiles left: %v", left)
	}
}
