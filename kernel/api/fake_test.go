package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// fakeContainers is a func-field fake: a nil func answers ErrUnimplemented.
type fakeContainers struct {
	CreateFunc  func(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (string, []string, error)
	StartFunc   func(ctx context.Context, id string) error
	StopFunc    func(ctx context.Context, id string, timeout *int, sig syscall.Signal) error
	RestartFunc func(ctx context.Context, id string, timeout *int, sig syscall.Signal) error
	KillFunc    func(ctx context.Context, id string, sig syscall.Signal) error
	RemoveFunc  func(ctx context.Context, id string, force, volumes bool) error
	WaitFunc    func(ctx context.Context, id string, cond container.WaitCondition) (<-chan WaitResult, error)
	AttachFunc  func(ctx context.Context, id string, opts AttachOptions, open func(bool) (*AttachStreams, error)) error
	ListFunc    func(ctx context.Context, opts ListOptions) ([]container.Summary, error)
	InspectFunc func(ctx context.Context, id string) (*container.InspectResponse, error)
	ResizeFunc  func(ctx context.Context, id string, height, width uint) error
	PauseFunc   func(ctx context.Context, id string, pause bool) error
}

func (f *fakeContainers) Pause(ctx context.Context, id string) error {
	if f.PauseFunc == nil {
		return errFakeUnimplemented
	}
	return f.PauseFunc(ctx, id, true)
}

func (f *fakeContainers) Unpause(ctx context.Context, id string) error {
	if f.PauseFunc == nil {
		return errFakeUnimplemented
	}
	return f.PauseFunc(ctx, id, false)
}

func (f *fakeContainers) Resize(ctx context.Context, id string, height, width uint) error {
	if f.ResizeFunc == nil {
		return errFakeUnimplemented
	}
	return f.ResizeFunc(ctx, id, height, width)
}

var errFakeUnimplemented = fmt.Errorf("fake: %w", errdefs.ErrUnimplemented)

func (f *fakeContainers) Create(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (string, []string, error) {
	if f.CreateFunc == nil {
		return "", nil, errFakeUnimplemented
	}
	return f.CreateFunc(ctx, name, cfg, hc, nc)
}
func (f *fakeContainers) Start(ctx context.Context, id string) error {
	if f.StartFunc == nil {
		return errFakeUnimplemented
	}
	return f.StartFunc(ctx, id)
}
func (f *fakeContainers) Stop(ctx context.Context, id string, t *int, sig syscall.Signal) error {
	if f.StopFunc == nil {
		return errFakeUnimplemented
	}
	return f.StopFunc(ctx, id, t, sig)
}
func (f *fakeContainers) Restart(ctx context.Context, id string, t *int, sig syscall.Signal) error {
	if f.RestartFunc == nil {
		return errFakeUnimplemented
	}
	return f.RestartFunc(ctx, id, t, sig)
}
func (f *fakeContainers) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	if f.KillFunc == nil {
		return errFakeUnimplemented
	}
	return f.KillFunc(ctx, id, sig)
}
func (f *fakeContainers) Remove(ctx context.Context, id string, force, volumes bool) error {
	if f.RemoveFunc == nil {
		return errFakeUnimplemented
	}
	return f.RemoveFunc(ctx, id, force, volumes)
}
func (f *fakeContainers) Wait(ctx context.Context, id string, cond container.WaitCondition) (<-chan WaitResult, error) {
	if f.WaitFunc == nil {
		return nil, errFakeUnimplemented
	}
	return f.WaitFunc(ctx, id, cond)
}
func (f *fakeContainers) Attach(ctx context.Context, id string, opts AttachOptions, open func(bool) (*AttachStreams, error)) error {
	if f.AttachFunc == nil {
		return errFakeUnimplemented
	}
	return f.AttachFunc(ctx, id, opts, open)
}
func (f *fakeContainers) List(ctx context.Context, opts ListOptions) ([]container.Summary, error) {
	if f.ListFunc == nil {
		return nil, errFakeUnimplemented
	}
	return f.ListFunc(ctx, opts)
}
func (f *fakeContainers) Inspect(ctx context.Context, id string) (*container.InspectResponse, error) {
	if f.InspectFunc == nil {
		return nil, errFakeUnimplemented
	}
	return f.InspectFunc(ctx, id)
}

type fakeImages struct {
	PullFunc    func(ctx context.Context, fromImage, tag, platform, auth string, w io.Writer) error
	ImportFunc  func(ctx context.Context, src io.Reader, repo, tag string, changes []string, w io.Writer) error
	ListFunc    func(ctx context.Context, opts ImageListOptions) ([]image.Summary, error)
	InspectFunc func(ctx context.Context, name string) (*image.InspectResponse, error)
	DeleteFunc  func(ctx context.Context, name string, force, prune bool) ([]image.DeleteResponse, error)
}

func (f *fakeImages) Pull(ctx context.Context, fromImage, tag, platform, auth string, w io.Writer) error {
	if f.PullFunc == nil {
		return errFakeUnimplemented
	}
	return f.PullFunc(ctx, fromImage, tag, platform, auth, w)
}
func (f *fakeImages) Import(ctx context.Context, src io.Reader, repo, tag string, changes []string, w io.Writer) error {
	if f.ImportFunc == nil {
		return errFakeUnimplemented
	}
	return f.ImportFunc(ctx, src, repo, tag, changes, w)
}
func (f *fakeImages) List(ctx context.Context, opts ImageListOptions) ([]image.Summary, error) {
	if f.ListFunc == nil {
		return nil, errFakeUnimplemented
	}
	return f.ListFunc(ctx, opts)
}
func (f *fakeImages) Inspect(ctx context.Context, name string) (*image.InspectResponse, error) {
	if f.InspectFunc == nil {
		return nil, errFakeUnimplemented
	}
	return f.InspectFunc(ctx, name)
}
func (f *fakeImages) Delete(ctx context.Context, name string, force, prune bool) ([]image.DeleteResponse, error) {
	if f.DeleteFunc == nil {
		return nil, errFakeUnimplemented
	}
	return f.DeleteFunc(ctx, name, force, prune)
}

type fakeEvents struct {
	SubscribeFunc func(ctx context.Context, opts EventsOptions) (<-chan events.Message, error)
}

func (f *fakeEvents) Subscribe(ctx context.Context, opts EventsOptions) (<-chan events.Message, error) {
	if f.SubscribeFunc == nil {
		return nil, errFakeUnimplemented
	}
	return f.SubscribeFunc(ctx, opts)
}

type fakeSystem struct{}

func (fakeSystem) Info(context.Context) (*system.Info, error) {
	return &system.Info{ID: "fake", Driver: "overlayfs", DriverStatus: [][2]string{{"Backing Filesystem", "extfs"}}}, nil
}
func (fakeSystem) Version(context.Context) (*system.VersionResponse, error) {
	return &system.VersionResponse{Version: "0.0.1-test"}, nil
}

// testServer serves svc on a unix socket in a temp dir and returns a
// docker client (the real moby client library) and the socket path.
func testServer(t *testing.T, svc Services) (*client.Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: New(svc, Config{Version: "0.0.1-test"})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); wg.Wait() })
	c, err := client.New(client.WithHost("unix://" + sock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, sock
}

// rawClient is a plain HTTP client on the socket, for what the docker
// client library would hide (headers, malformed bodies).
func rawClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}
