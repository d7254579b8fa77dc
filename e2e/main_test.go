// Package e2e drives a real berthd (with its managed containerd, runc and
// the overlayfs graph driver) through the Docker Go client, raw HTTP on the
// unix socket, the docker CLI (where /usr/local/bin/docker exists) and
// bin/berth, pulling a busybox-static image from a registry on loopback.
//
// Run with `make test-e2e` (it builds bin/ first) or, after `make build`,
// `go test -count=1 -v ./e2e/`. The package skips itself when bin/berthd is
// missing or the tests do not run as root.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/e2e/harness"
	"github.com/berth-dev/berth/kernel/image/imagetest"
)

// dockerCLI is the stock docker CLI; tests that use it skip without it.
const dockerCLI = "/usr/local/bin/docker"

var (
	// skipReason, when set, skips every test of the package.
	skipReason string
	// binDir holds berthd and berth.
	binDir string

	regOnce sync.Once
	reg     *imagetest.Registry
	// busyboxRef is the busybox image on reg ("127.0.0.1:PORT/busybox:latest").
	busyboxRef string
	regErr     error

	sharedOnce sync.Once
	sharedD    *harness.Daemon
	sharedErr  error

	// dockerConfig is an empty DOCKER_CONFIG so the host user's config does
	// not change what the CLI sends.
	dockerConfig string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if dir, err := filepath.Abs("../bin"); err == nil {
		binDir = dir
	}
	switch {
	case os.Geteuid() != 0:
		skipReason = "e2e tests need root (containerd, runc and overlayfs mounts)"
	case !isFile(filepath.Join(binDir, "berthd")):
		skipReason = fmt.Sprintf("%s/berthd is missing: run `make build` (or `make test-e2e`)", binDir)
	}
	if skipReason != "" {
		fmt.Fprintln(os.Stderr, "e2e: skipping:", skipReason)
	}
	var err error
	if dockerConfig, err = os.MkdirTemp("", "e2e-dockercfg"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dockerConfig)

	code := m.Run()

	if sharedD != nil {
		logs := logTail(sharedD)
		if err := teardown(sharedD); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: shared daemon left something behind: %v\nberthd log:\n%s\n", err, logs)
			code = 1
		} else if code != 0 {
			fmt.Fprintf(os.Stderr, "e2e: shared berthd log:\n%s\n", logs)
		}
	}
	if reg != nil {
		reg.Close()
	}
	return code
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// needE2E skips t when the package cannot run.
func needE2E(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// registry starts the loopback registry and pushes busybox to it, once.
func registry(t *testing.T) *imagetest.Registry {
	t.Helper()
	needE2E(t)
	regOnce.Do(func() {
		reg = imagetest.StartRegistry()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		busyboxRef, _, regErr = reg.PushBusybox(ctx, "busybox:latest")
	})
	if regErr != nil {
		t.Fatalf("registry: push busybox: %v", regErr)
	}
	return reg
}

// pushBusyboxAs pushes the busybox image under another repository:tag and
// returns its reference, for tests that need an image the daemon has not
// pulled yet.
func pushBusyboxAs(t *testing.T, repoTag string) string {
	t.Helper()
	r := registry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ref, _, err := r.PushBusybox(ctx, repoTag)
	if err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	return ref
}

// shared returns the package's shared daemon with busybox pulled. Tests on
// it must not restart or kill berthd or its plugins.
func shared(t *testing.T) *harness.Daemon {
	t.Helper()
	registry(t)
	sharedOnce.Do(func() {
		sharedD, sharedErr = startDaemon(context.Background())
		if sharedErr == nil {
			sharedErr = pull(context.Background(), sharedD, busyboxRef)
		}
	})
	if sharedErr != nil {
		if sharedD != nil {
			t.Fatalf("shared berthd: %v\nberthd log:\n%s", sharedErr, logTail(sharedD))
		}
		t.Fatalf("shared berthd: %v", sharedErr)
	}
	return sharedD
}

// ownDaemon starts a daemon for one test (those that stop, kill or restart
// berthd or its plugins), with busybox pulled; it is torn down at the end of
// the test, and the test fails if it left anything behind.
func ownDaemon(t *testing.T, args ...string) *harness.Daemon {
	t.Helper()
	registry(t)
	d, err := startDaemon(context.Background(), args...)
	if err != nil {
		if d != nil {
			t.Fatalf("start berthd: %v\nberthd log:\n%s", err, logTail(d))
		}
		t.Fatalf("start berthd: %v", err)
	}
	t.Cleanup(func() {
		// Cleanup removes the directory holding the log: read it first.
		logs := logTail(d)
		if err := teardown(d); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if t.Failed() {
			t.Logf("berthd log (without API request lines):\n%s", logs)
		}
	})
	if err := pull(context.Background(), d, busyboxRef); err != nil {
		t.Fatalf("pull %s: %v\nberthd log:\n%s", busyboxRef, err, logTail(d))
	}
	return d
}

func startDaemon(ctx context.Context, args ...string) (*harness.Daemon, error) {
	d, err := harness.NewDaemon(binDir, args...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		// Stop whatever the failed start left (a managed containerd).
		logs := logTail(d)
		d.Cleanup()
		return nil, fmt.Errorf("%w\nberthd log:\n%s", err, logs)
	}
	return d, nil
}

// teardown removes every container through the API, checks that nothing
// of them is left (containerd objects, mounts under the daemon's dir), then
// stops berthd and its managed containerd and checks that no process of
// this daemon survives. It reports what it found left behind.
func teardown(d *harness.Daemon) error {
	var problems []error
	if d.Pid() != 0 {
		if err := removeAll(d); err != nil {
			problems = append(problems, err)
		}
		if err := waitNoLeftovers(d, 10*time.Second); err != nil {
			problems = append(problems, err)
		}
	}
	d.Cleanup()
	if pids := waitNoProcesses(d.Dir, 10*time.Second); len(pids) > 0 {
		// These are processes berthd started for this test (managed
		// containerd, shims); end them by pid so no test leaks them.
		var desc []string
		for _, p := range pids {
			desc = append(desc, fmt.Sprintf("%d %q", p, procCmdline(p)))
			_ = syscallKill(p)
		}
		problems = append(problems, fmt.Errorf("processes still running after cleanup (killed now): %v", desc))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%v", problems)
}

// run executes a command with a timeout and returns its stdout, stderr and
// exit code (-1 when it could not run or timed out).
func run(timeout time.Duration, env []string, name string, args ...string) (string, string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok && ctx.Err() == nil {
			code = ee.ExitCode()
		} else {
			errb.WriteString("\n[e2e: " + err.Error() + "]")
		}
	}
	return out.String(), errb.String(), code
}

// docker runs the docker CLI against d.
func docker(t *testing.T, d *harness.Daemon, args ...string) (string, string, int) {
	t.Helper()
	if !isFile(dockerCLI) {
		t.Skip("docker CLI not installed at " + dockerCLI)
	}
	stdout, stderr, code := run(90*time.Second, []string{"DOCKER_HOST=" + d.Host(), "DOCKER_CONFIG=" + dockerConfig}, dockerCLI, args...)
	t.Logf("docker %q → %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
	return stdout, stderr, code
}

// berth runs bin/berth against d.
func berth(t *testing.T, d *harness.Daemon, args ...string) (string, string, int) {
	t.Helper()
	bin := filepath.Join(binDir, "berth")
	if !isFile(bin) {
		t.Fatalf("%s is missing: run `make build`", bin)
	}
	stdout, stderr, code := run(90*time.Second, []string{"BERTH_HOST=" + d.Host()}, bin, args...)
	t.Logf("berth %q → %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
	return stdout, stderr, code
}

// logTail returns the last lines of berthd's log without the debug lines
// of successful API requests, which would drown what matters.
func logTail(d *harness.Daemon) string {
	data, err := os.ReadFile(d.LogPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	var keep []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "level=DEBUG") && strings.Contains(line, `msg="api request"`) {
			continue
		}
		keep = append(keep, line)
	}
	if len(keep) > 200 {
		keep = keep[len(keep)-200:]
	}
	return strings.Join(keep, "\n")
}
