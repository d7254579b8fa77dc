package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/kernel/api"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
)

// fakeEngine is a tiny in-memory engine behind the real API handler: a
// container "runs" at Start by printing its Cmd to stdout, "oops" to
// stderr, and exiting with ExitCode. It records the calls in order.
type fakeEngine struct {
	mu       sync.Mutex
	calls    []string
	pulled   map[string]bool
	ctrs     map[string]*fakeCtr
	ExitCode int64
	signals  []syscall.Signal
	imported []byte   // the last import's body
	ctypes   []string // Content-Type of each POST /images/create
}

type fakeCtr struct {
	id      string
	cfg     *container.Config
	hc      *container.HostConfig
	streams *api.AttachStreams
	waiters []chan api.WaitResult
	exited  chan struct{}
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{pulled: map[string]bool{}, ctrs: map[string]*fakeCtr{}}
}

func (e *fakeEngine) record(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, s)
}

// callList returns the calls so far, joined with ",".
func (e *fakeEngine) callList() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.calls, ",")
}

func (e *fakeEngine) get(id string) (*fakeCtr, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.ctrs[id]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("No such container: %s: %w", id, errdefs.ErrNotFound)
}

func (e *fakeEngine) Create(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (string, []string, error) {
	e.record("create")
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.pulled[cfg.Image] {
		return "", nil, fmt.Errorf("No such image: %s: %w", cfg.Image, errdefs.ErrNotFound)
	}
	id := strings.Repeat(fmt.Sprint(len(e.ctrs)+1), 64)
	if name == "" {
		name = id
	}
	e.ctrs[name] = &fakeCtr{id: id, cfg: cfg, hc: hc, exited: make(chan struct{})}
	e.ctrs[id] = e.ctrs[name]
	return id, nil, nil
}

func (e *fakeEngine) Start(ctx context.Context, id string) error {
	e.record("start")
	c, err := e.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	st := c.streams
	e.mu.Unlock()
	go func() {
		if st != nil {
			fmt.Fprintln(st.Stdout, strings.Join(c.cfg.Cmd, " "))
			fmt.Fprintln(st.Stderr, "oops")
		}
		e.mu.Lock()
		waiters := c.waiters
		e.mu.Unlock()
		for _, w := range waiters {
			w <- api.WaitResult{StatusCode: e.ExitCode}
		}
		close(c.exited)
	}()
	return nil
}

func (e *fakeEngine) Stop(ctx context.Context, id string, timeout *int, sig syscall.Signal) error {
	e.record(fmt.Sprintf("stop %s", id))
	return nil
}

func (e *fakeEngine) Restart(ctx context.Context, id string, timeout *int, sig syscall.Signal) error {
	return nil
}

func (e *fakeEngine) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.signals = append(e.signals, sig)
	return nil
}

func (e *fakeEngine) Remove(ctx context.Context, id string, force, volumes bool) error {
	if _, err := e.get(id); err != nil {
		return err
	}
	e.record(fmt.Sprintf("remove %s force=%v", id, force))
	return nil
}

func (e *fakeEngine) Wait(ctx context.Context, id string, cond container.WaitCondition) (<-chan api.WaitResult, error) {
	e.record("wait " + string(cond))
	c, err := e.get(id)
	if err != nil {
		return nil, err
	}
	ch := make(chan api.WaitResult, 1)
	e.mu.Lock()
	c.waiters = append(c.waiters, ch)
	e.mu.Unlock()
	return ch, nil
}

func (e *fakeEngine) Attach(ctx context.Context, id string, opts api.AttachOptions, open func(bool) (*api.AttachStreams, error)) error {
	e.record("attach")
	c, err := e.get(id)
	if err != nil {
		return err
	}
	st, err := open(c.cfg.Tty)
	if err != nil {
		return err
	}
	e.mu.Lock()
	c.streams = st
	e.mu.Unlock()
	select {
	case <-c.exited:
	case <-st.Gone:
	}
	return nil
}

func (e *fakeEngine) List(ctx context.Context, opts api.ListOptions) ([]container.Summary, error) {
	return nil, nil
}

func (e *fakeEngine) Pause(ctx context.Context, id string) error   { return nil }
func (e *fakeEngine) Unpause(ctx context.Context, id string) error { return nil }

func (e *fakeEngine) Resize(ctx context.Context, id string, height, width uint) error {
	return nil
}

func (e *fakeEngine) Inspect(ctx context.Context, id string) (*container.InspectResponse, error) {
	c, err := e.get(id)
	if err != nil {
		return nil, err
	}
	return &container.InspectResponse{ID: c.id, Config: c.cfg}, nil
}

func (e *fakeEngine) Pull(ctx context.Context, fromImage, tag, platform, auth string, w io.Writer) error {
	e.record("pull " + fromImage + ":" + tag)
	fmt.Fprintln(w, `{"status":"Pulling fs layer","id":"abc"}`)
	fmt.Fprintln(w, `{"status":"Pull complete","id":"abc"}`)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pulled[strings.TrimPrefix(fromImage, "docker.io/library/")] = true
	return nil
}

func (e *fakeEngine) Import(ctx context.Context, src io.Reader, repo, tag string, changes []string, w io.Writer) error {
	data, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.imported = data
	e.mu.Unlock()
	e.record(fmt.Sprintf("import %s %s %q", repo, tag, changes))
	if _, err := w.Write([]byte(`{"status":"Importing"}` + "\n")); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "{\"status\":\"sha256:%x\"}\n", sha256.Sum256(data))
	return err
}

// fakeImages adapts the engine's image half (List clashes with containers').
type fakeImages struct{ *fakeEngine }

func (f fakeImages) List(ctx context.Context, opts api.ImageListOptions) ([]image.Summary, error) {
	return []image.Summary{{ID: "sha256:" + strings.Repeat("f", 64), RepoTags: []string{"busybox:latest"}, Size: 4_400_000}}, nil
}

func (f fakeImages) Inspect(ctx context.Context, name string) (*image.InspectResponse, error) {
	if name != "busybox" {
		return nil, fmt.Errorf("No such image: %s: %w", name, errdefs.ErrNotFound)
	}
	return &image.InspectResponse{ID: "sha256:" + strings.Repeat("f", 64)}, nil
}

func (f fakeImages) Delete(ctx context.Context, name string, force, prune bool) ([]image.DeleteResponse, error) {
	return []image.DeleteResponse{{Untagged: name + ":latest"}, {Deleted: "sha256:" + strings.Repeat("f", 64)}}, nil
}

// serve starts the API over e on a unix socket and returns the -H value.
func serve(t *testing.T, e *fakeEngine) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "berth.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Services{Containers: e, Images: fakeImages{e}, System: fakeSystem{}}, api.Config{Version: "test"})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/images/create") {
			e.mu.Lock()
			e.ctypes = append(e.ctypes, r.Header.Get("Content-Type"))
			e.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); wg.Wait() })
	return "unix://" + sock
}

type fakeSystem struct{}

func (fakeSystem) Info(context.Context) (*system.Info, error) {
	return &system.Info{ID: "fake", Name: "host", Driver: "overlayfs", DriverStatus: [][2]string{{"Backing Filesystem", "extfs"}},
		LoggingDriver: "json-file", CgroupDriver: "cgroupfs", CgroupVersion: "1", NCPU: 2, MemTotal: 1 << 30,
		SecurityOptions: []string{"name=seccomp,profile=builtin"}}, nil
}

func (fakeSystem) Version(context.Context) (*system.VersionResponse, error) {
	return &system.VersionResponse{Version: "0.1.0"}, nil
}
