package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/e2e/harness"
)

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a
// command's stdout and stderr copiers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// apiClient returns a Docker client for d; the test closes it at its end.
func apiClient(t *testing.T, d *harness.Daemon) *client.Client {
	t.Helper()
	c, err := d.Client()
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pull pulls ref through the API and reads the progress stream to its end,
// failing on an in-band error.
func pull(ctx context.Context, d *harness.Daemon, ref string) error {
	c, err := d.Client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	resp, err := c.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	if err := resp.Wait(ctx); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

// runResult is what runContainer observed.
type runResult struct {
	ID       string
	Stdout   string
	Stderr   string
	ExitCode int64
}

// runContainer does what `docker run` does through the Go client: create,
// attach and wait before start, start, read the multiplexed output to its
// end, then take the exit code from the wait response.
func runContainer(ctx context.Context, c *client.Client, name string, cfg *container.Config, hc *container.HostConfig) (runResult, error) {
	var res runResult
	if hc == nil {
		hc = &container.HostConfig{}
	}
	cfg.AttachStdout, cfg.AttachStderr = true, true
	cr, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hc, Name: name})
	if err != nil {
		return res, fmt.Errorf("create: %w", err)
	}
	res.ID = cr.ID
	att, err := c.ContainerAttach(ctx, cr.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return res, fmt.Errorf("attach: %w", err)
	}
	defer att.Close()
	_ = att.CloseWrite()
	cond := container.WaitConditionNextExit
	if hc.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	wait := c.ContainerWait(ctx, cr.ID, client.ContainerWaitOptions{Condition: cond})
	if _, err := c.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
		return res, fmt.Errorf("start: %w", err)
	}
	var stdout, stderr bytes.Buffer
	copyDone := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader)
		copyDone <- err
	}()
	select {
	case err := <-copyDone:
		if err != nil {
			return res, fmt.Errorf("attach stream: %w", err)
		}
	case <-ctx.Done():
		return res, fmt.Errorf("attach stream did not end: %w", ctx.Err())
	}
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	select {
	case w := <-wait.Result:
		res.ExitCode = w.StatusCode
		if w.Error != nil && w.Error.Message != "" {
			return res, fmt.Errorf("wait: %s", w.Error.Message)
		}
	case err := <-wait.Error:
		return res, fmt.Errorf("wait: %w", err)
	case <-ctx.Done():
		return res, fmt.Errorf("wait did not answer: %w", ctx.Err())
	}
	return res, nil
}

// startDetached creates and starts a container running cmd and returns its id.
func startDetached(t *testing.T, c *client.Client, image string, cmd ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cr, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: image, Cmd: cmd}, HostConfig: &container.HostConfig{}})
	if err != nil {
		t.Fatalf("create %v: %v", cmd, err)
	}
	if _, err := c.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start %v: %v", cmd, err)
	}
	return cr.ID
}

// inspect returns the container's inspect data.
func inspect(t *testing.T, c *client.Client, id string) container.InspectResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return r.Container
}

// waitState polls until the container's State.Status is want.
func waitState(t *testing.T, c *client.Client, id string, want container.ContainerState, timeout time.Duration) container.InspectResponse {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ins := inspect(t, c, id)
		if ins.State != nil && ins.State.Status == want {
			return ins
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: state %+v, want %s within %s", id[:12], ins.State, want, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listIDs returns the ids of all containers (all=1).
func listIDs(ctx context.Context, c *client.Client) (map[string]container.Summary, error) {
	r, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, err
	}
	m := make(map[string]container.Summary, len(r.Items))
	for _, s := range r.Items {
		m[s.ID] = s
	}
	return m, nil
}

// removeAll force-removes every container d knows.
func removeAll(d *harness.Daemon) error {
	c, err := d.Client()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ids, err := listIDs(ctx, c)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	var errs []error
	for id := range ids {
		if _, err := c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove %s: %w", id[:12], err))
		}
	}
	return errors.Join(errs...)
}

// containerdSock is the socket of d's managed containerd (state dir
// <exec-root>/containerd).
func containerdSock(d *harness.Daemon) string {
	return filepath.Join(d.ExecRoot, "containerd", "containerd.sock")
}

// ctrIDs lists the ids of containerd containers (what="containers") or tasks
// (what="tasks") in the berth namespace of d's managed containerd.
func ctrIDs(d *harness.Daemon, what string) ([]string, error) {
	sock := containerdSock(d)
	if _, err := os.Stat(sock); err != nil {
		return nil, fmt.Errorf("managed containerd socket: %w", err)
	}
	args := []string{"-a", sock, "-n", "berth", what, "ls", "-q"}
	out, errOut, code := run(20*time.Second, nil, "ctr", args...)
	if code != 0 {
		return nil, fmt.Errorf("ctr %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return strings.Fields(out), nil
}

// mountsUnder lists the mount points below dir.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// waitNoLeftovers waits until d, with no containers left in its API, has
// no containerd container or task and no mount under its directory.
func waitNoLeftovers(d *harness.Daemon, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var problems []string
		for _, what := range []string{"containers", "tasks"} {
			ids, err := ctrIDs(d, what)
			if err != nil {
				problems = append(problems, err.Error())
			} else if len(ids) > 0 {
				problems = append(problems, fmt.Sprintf("containerd %s without a berth container: %v", what, ids))
			}
		}
		if m := mountsUnder(d.Dir); len(m) > 0 {
			problems = append(problems, fmt.Sprintf("mounts left under %s: %v", d.Dir, m))
		}
		if len(problems) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New(strings.Join(problems, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// procCmdline returns /proc/PID/cmdline with arguments joined by spaces.
func procCmdline(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}

// allPids lists the processes of the host.
func allPids() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// childrenOf lists the processes whose parent is pid, as pgrep -P does.
func childrenOf(pid int) []int {
	var out []int
	for _, p := range allPids() {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// The command name may hold spaces; fields after its ')' are fixed.
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// processesMentioning lists live processes whose command line contains s
// (a daemon's private directory: its containerd and shims name it).
func processesMentioning(s string) []int {
	self := os.Getpid()
	var out []int
	for _, p := range allPids() {
		if p == self {
			continue
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil {
			f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
			if len(f) > 0 && f[0] == "Z" {
				continue
			}
		}
		if strings.Contains(procCmdline(p), s) {
			out = append(out, p)
		}
	}
	return out
}

func waitNoProcesses(dir string, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		pids := processesMentioning(dir + "/")
		if len(pids) == 0 || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pluginPids returns berthd's child processes serving the named built-in
// plugin ("berthd plugin serve NAME").
func pluginPids(d *harness.Daemon, name string) []int {
	var out []int
	for _, p := range childrenOf(d.Pid()) {
		cl := procCmdline(p)
		if strings.Contains(cl, "plugin serve "+name) {
			out = append(out, p)
		}
	}
	return out
}

// rawClient is an HTTP client that talks to d's unix socket; URLs use the
// host "berth".
func rawClient(d *harness.Daemon) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dl net.Dialer
				return dl.DialContext(ctx, "unix", d.Sock)
			},
		},
	}
}

// rawResponse is a read response.
type rawResponse struct {
	Status      int
	ContentType string
	Body        []byte
}

// rawDo sends one request with body (nil for none) and reads the answer.
func rawDo(t *testing.T, d *harness.Daemon, method, path, contentType string, body []byte) rawResponse {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://berth"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := rawClient(d).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return rawResponse{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b}
}

// checkErrorBody asserts the Docker error shape: Content-Type exactly
// application/json and {"message": non-empty}; it returns the message.
func checkErrorBody(t *testing.T, what string, r rawResponse) string {
	t.Helper()
	if r.ContentType != "application/json" {
		t.Errorf("%s: Content-Type %q, want exactly application/json", what, r.ContentType)
	}
	var e struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Message == "" {
		t.Errorf("%s: body %q is not {\"message\":\"...\"} (%v)", what, r.Body, err)
	}
	return e.Message
}

// eventsBetween reads the events log between since and until (inclusive)
// that match the filters.
func eventsBetween(ctx context.Context, c *client.Client, since, until time.Time, f client.Filters) ([]events.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	r := c.Events(ctx, client.EventsListOptions{Since: unixNano(since), Until: unixNano(until), Filters: f})
	var out []events.Message
	for {
		select {
		case m := <-r.Messages:
			out = append(out, m)
		case err := <-r.Err:
			if err == nil || errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
	}
}

// unixNano formats t as the API's "seconds.nanoseconds".
func unixNano(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// containsInOrder reports whether want is a subsequence of got.
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diagnoseEvents repeats an events query whose until lies in the past with
// an until 1.5 s in the future, and logs what that returns: it tells a
// replay that ends too early from events that were never recorded.
func diagnoseEvents(t *testing.T, c *client.Client, since time.Time, f client.Filters) {
	t.Helper()
	evs, err := eventsBetween(context.Background(), c, since, time.Now().Add(1500*time.Millisecond), f)
	var lines []string
	for _, e := range evs {
		lines = append(lines, fmt.Sprintf("%s %s %s %v", e.Type, e.Action, e.Actor.ID, e.Actor.Attributes))
	}
	t.Logf("diagnostic: the same events query with until 1.5s in the future returned %d events (err %v):\n%s", len(evs), err, strings.Join(lines, "\n"))
}
