package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/sdk/errdefs"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPingNegotiation(t *testing.T) {
	c, sock := testServer(t, Services{System: fakeSystem{}})
	ctx := ctxT(t)
	p, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.APIVersion != DefaultAPIVersion || p.OSType != "linux" || p.Experimental {
		t.Fatalf("ping = %+v", p)
	}
	if c.ClientVersion() != DefaultAPIVersion {
		t.Fatalf("client negotiated %q, want %q", c.ClientVersion(), DefaultAPIVersion)
	}
	if p.SwarmStatus == nil || p.SwarmStatus.NodeState != "inactive" {
		t.Fatalf("swarm status = %+v", p.SwarmStatus)
	}
	for _, method := range []string{"HEAD", "GET"} {
		req, _ := http.NewRequest(method, "http://api.moby.localhost/_ping", nil)
		resp, err := rawClient(sock).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s /_ping = %d", method, resp.StatusCode)
		}
		if !regexp.MustCompile(`^Docker/.+\s\((.+)\)$`).MatchString(resp.Header.Get("Server")) {
			t.Fatalf("Server header %q does not match the client's regexp", resp.Header.Get("Server"))
		}
		if resp.Header.Get("Cache-Control") == "" || resp.Header.Get("Docker-Experimental") != "false" {
			t.Fatalf("headers = %v", resp.Header)
		}
		if want := map[string]string{"HEAD": "", "GET": "OK"}[method]; string(body) != want {
			t.Fatalf("%s body = %q", method, body)
		}
	}
	v, err := c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.APIVersion != DefaultAPIVersion || v.MinAPIVersion != MinAPIVersion || len(v.Components) == 0 || v.Components[0].Name != "Engine" {
		t.Fatalf("version = %+v", v)
	}
	info, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Info.Swarm.LocalNodeState != "inactive" || info.Info.OSType != "linux" {
		t.Fatalf("info = %+v", info.Info)
	}
}

func TestVersionBounds(t *testing.T) {
	_, sock := testServer(t, Services{System: fakeSystem{}})
	for path, want := range map[string]string{
		"/v1.99/version": "client version 1.99 is too new. Maximum supported API version is 1.43",
		"/v1.12/info":    "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version",
	} {
		resp, err := rawClient(sock).Get("http://x" + path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || body.Message != want {
			t.Fatalf("%s = %d %q", path, resp.StatusCode, body.Message)
		}
	}
	// A client pinned too new gets the daemon's message as an invalid-argument error.
	c, err := client.New(client.WithHost("unix://"+sock), client.WithAPIVersion("1.50"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Info(ctxT(t), client.InfoOptions{})
	if !cerrdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "too new") {
		t.Fatalf("err = %v", err)
	}
	// Lower versions within range are served.
	resp, err := rawClient(sock).Get("http://x/v1.24/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/v1.24/version = %d", resp.StatusCode)
	}
}

func TestErrorContentTypeAndUnknownRoute(t *testing.T) {
	fc := &fakeContainers{InspectFunc: func(ctx context.Context, id string) (*container.InspectResponse, error) {
		return nil, fmt.Errorf("No such container: %s: %w", id, errdefs.ErrNotFound)
	}}
	c, sock := testServer(t, Services{Containers: fc})
	for path, want := range map[string]struct {
		code int
		msg  string
	}{
		"/v1.43/containers/nope/json": {404, "No such container: nope"},
		"/containers/nope/json":       {404, "No such container: nope"},
		"/v1.43/no/such/route":        {404, "page not found"},
		"/images/json":                {501, "images is not available on this daemon"},
	} {
		resp, err := rawClient(sock).Get("http://x" + path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s Content-Type = %q", path, ct)
		}
		if resp.StatusCode != want.code || body.Message != want.msg {
			t.Fatalf("%s = %d %q, want %d %q", path, resp.StatusCode, body.Message, want.code, want.msg)
		}
	}
	_, err := c.ContainerInspect(ctxT(t), "nope", client.ContainerInspectOptions{})
	if !cerrdefs.IsNotFound(err) || !strings.Contains(err.Error(), "No such container: nope") {
		t.Fatalf("client err = %v", err)
	}
}

func TestCreate(t *testing.T) {
	var gotName string
	var gotCfg *container.Config
	fc := &fakeContainers{CreateFunc: func(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (string, []string, error) {
		gotName, gotCfg = name, cfg
		switch {
		case cfg.Image == "missing":
			return "", nil, fmt.Errorf("No such image: missing:latest: %w", errdefs.ErrNotFound)
		case name == "taken":
			return "", nil, fmt.Errorf("Conflict. The container name \"/taken\" is already in use: %w", errdefs.ErrConflict)
		}
		return strings.Repeat("a", 64), nil, nil
	}}
	c, sock := testServer(t, Services{Containers: fc})
	ctx := ctxT(t)
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:   "web",
		Config: &container.Config{Image: "busybox", Cmd: []string{"echo", "hi"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != strings.Repeat("a", 64) || gotName != "web" || gotCfg.Cmd[1] != "hi" || res.Warnings == nil {
		t.Fatalf("create = %+v name=%q cfg=%+v", res, gotName, gotCfg)
	}
	_, err = c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "missing"}})
	if !cerrdefs.IsNotFound(err) {
		t.Fatalf("missing image: %v", err)
	}
	_, err = c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "taken", Config: &container.Config{Image: "busybox"}})
	if !cerrdefs.IsConflict(err) {
		t.Fatalf("name in use: %v", err)
	}
	_, err = c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: "bad name!", Config: &container.Config{Image: "busybox"}})
	if !cerrdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "Invalid container name") {
		t.Fatalf("bad name: %v", err)
	}

	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	for name, body := range map[string]string{
		"malformed":     `{"Image": "busybox",`,
		"wrong type":    `{"Image": 42}`,
		"trailing data": `{"Image": "busybox"} {}`,
		"over-deep":     `{"Image":"busybox","Labels":` + deep + `}`,
		"string cmd ok": `{"Image":"busybox","Cmd":"echo hi"}`,
	} {
		resp, err := rawClient(sock).Post("http://x/v1.43/containers/create", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := 400
		if name == "string cmd ok" {
			want = 201
		}
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status %d (want %d), Content-Type %q", name, resp.StatusCode, want, resp.Header.Get("Content-Type"))
		}
	}
}

func TestCreateStringCmd(t *testing.T) {
	var got *container.Config
	fc := &fakeContainers{CreateFunc: func(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (string, []string, error) {
		got = cfg
		return "id", nil, nil
	}}
	_, sock := testServer(t, Services{Containers: fc})
	resp, err := rawClient(sock).Post("http://x/containers/create", "application/json",
		strings.NewReader(`{"Image":"busybox","Cmd":"echo hi","Entrypoint":null,"Env":null}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || len(got.Cmd) != 1 || got.Cmd[0] != "echo hi" || len(got.Entrypoint) != 0 {
		t.Fatalf("status %d cmd %q entrypoint %q", resp.StatusCode, got.Cmd, got.Entrypoint)
	}
}

func TestWaitStopsWhenClientLeaves(t *testing.T) {
	ctxs := make(chan context.Context, 1)
	fc := &fakeContainers{WaitFunc: func(ctx context.Context, id string, cond container.WaitCondition) (<-chan WaitResult, error) {
		ctxs <- ctx
		return make(chan WaitResult), nil
	}}
	c, _ := testServer(t, Services{Containers: fc})
	ctx, cancel := context.WithCancel(ctxT(t))
	_ = c.ContainerWait(ctx, "c1", client.ContainerWaitOptions{})
	svcCtx := <-ctxs
	cancel()
	select {
	case <-svcCtx.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("service context not cancelled after the client left")
	}
}

func TestStartStopKill(t *testing.T) {
	var mu sync.Mutex
	var signals []syscall.Signal
	var stopTimeout *int
	fc := &fakeContainers{
		StartFunc: func(ctx context.Context, id string) error {
			if id == "running" {
				return fmt.Errorf("container already started: %w", ErrNotModified)
			}
			return nil
		},
		StopFunc: func(ctx context.Context, id string, timeout *int, sig syscall.Signal) error {
			stopTimeout = timeout
			return fmt.Errorf("already stopped: %w", ErrNotModified)
		},
		KillFunc: func(ctx context.Context, id string, sig syscall.Signal) error {
			mu.Lock()
			defer mu.Unlock()
			signals = append(signals, sig)
			return nil
		},
	}
	c, sock := testServer(t, Services{Containers: fc})
	ctx := ctxT(t)
	if _, err := c.ContainerStart(ctx, "running", client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start on running (304) must be success: %v", err)
	}
	resp, err := rawClient(sock).Post("http://x/containers/running/start", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Fatalf("start on running = %d", resp.StatusCode)
	}
	resp, err = rawClient(sock).Post("http://x/containers/x/start", "application/json", strings.NewReader(`{"Binds":["/a:/b"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("start with body = %d", resp.StatusCode)
	}
	resp, err = rawClient(sock).Post("http://x/containers/x/start", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("start = %d", resp.StatusCode)
	}
	five := 5
	if _, err := c.ContainerStop(ctx, "x", client.ContainerStopOptions{Timeout: &five}); err != nil {
		t.Fatal(err)
	}
	if stopTimeout == nil || *stopTimeout != 5 {
		t.Fatalf("stop timeout = %v", stopTimeout)
	}
	for _, s := range []string{"INT", "SIGINT", "sigint", "9", ""} {
		if _, err := c.ContainerKill(ctx, "x", client.ContainerKillOptions{Signal: s}); err != nil {
			t.Fatalf("kill -s %q: %v", s, err)
		}
	}
	want := []syscall.Signal{syscall.SIGINT, syscall.SIGINT, syscall.SIGINT, syscall.SIGKILL, syscall.SIGKILL}
	if fmt.Sprint(signals) != fmt.Sprint(want) {
		t.Fatalf("signals = %v, want %v", signals, want)
	}
	for _, s := range []string{"FOO", "0", "99"} {
		_, err := c.ContainerKill(ctx, "x", client.ContainerKillOptions{Signal: s})
		if !cerrdefs.IsInvalidArgument(err) {
			t.Fatalf("kill -s %s: %v", s, err)
		}
	}
}

// TestWaitFlushesHeadersBeforeExit checks the docker run order: the client
// blocks in ContainerWait until the response headers arrive, and only then
// starts the container.
func TestWaitFlushesHeadersBeforeExit(t *testing.T) {
	exit := make(chan WaitResult, 1)
	registered := make(chan container.WaitCondition, 1)
	fc := &fakeContainers{WaitFunc: func(ctx context.Context, id string, cond container.WaitCondition) (<-chan WaitResult, error) {
		if id != "c1" {
			return nil, fmt.Errorf("No such container: %s: %w", id, errdefs.ErrNotFound)
		}
		registered <- cond
		return exit, nil
	}}
	c, _ := testServer(t, Services{Containers: fc})
	ctx := ctxT(t)

	returned := make(chan client.ContainerWaitResult, 1)
	go func() {
		returned <- c.ContainerWait(ctx, "c1", client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	}()
	var res client.ContainerWaitResult
	select {
	case res = <-returned:
	case <-time.After(3 * time.Second):
		t.Fatal("ContainerWait did not return before the container exited: headers not flushed")
	}
	if cond := <-registered; cond != container.WaitConditionNextExit {
		t.Fatalf("condition = %q", cond)
	}
	select {
	case r := <-res.Result:
		t.Fatalf("result before exit: %+v", r)
	case err := <-res.Error:
		t.Fatalf("error before exit: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	exit <- WaitResult{StatusCode: 3, Error: "boom"}
	select {
	case r := <-res.Result:
		if r.StatusCode != 3 || r.Error == nil || r.Error.Message != "boom" {
			t.Fatalf("result = %+v", r)
		}
	case err := <-res.Error:
		t.Fatal(err)
	}

	bad := c.ContainerWait(ctx, "c1", client.ContainerWaitOptions{Condition: "bogus"})
	if err := <-bad.Error; !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("bogus condition: %v", err)
	}
	missing := c.ContainerWait(ctx, "nope", client.ContainerWaitOptions{})
	if err := <-missing.Error; !cerrdefs.IsNotFound(err) {
		t.Fatalf("missing container: %v", err)
	}
}

// TestAttachHalfClose checks the hijack: 101 with the multiplexed media
// type, stdin EOF after the client's CloseWrite, output written after that
// EOF still reaching the client, and a full close seen as Gone.
func TestAttachHalfClose(t *testing.T) {
	gone := make(chan bool, 1)
	fc := &fakeContainers{AttachFunc: func(ctx context.Context, id string, opts AttachOptions, open func(bool) (*AttachStreams, error)) error {
		if id != "c1" {
			return fmt.Errorf("No such container: %s: %w", id, errdefs.ErrNotFound)
		}
		if !opts.Stdin || !opts.Stdout || !opts.Stderr || !opts.Stream {
			return fmt.Errorf("options %+v: %w", opts, errdefs.ErrInvalidArgument)
		}
		st, err := open(false)
		if err != nil {
			return err
		}
		in, err := io.ReadAll(st.Stdin) // ends at the client's half-close
		if err != nil {
			return err
		}
		select {
		case <-st.Gone:
			return fmt.Errorf("half-close reported as disconnect")
		case <-time.After(50 * time.Millisecond):
		}
		fmt.Fprintf(st.Stdout, "got:%s\n", in)
		fmt.Fprintf(st.Stderr, "after eof\n")
		select {
		case <-st.Gone:
			gone <- true
		case <-time.After(5 * time.Second):
			gone <- false
		}
		return nil
	}}
	c, _ := testServer(t, Services{Containers: fc})
	ctx := ctxT(t)
	res, err := c.ContainerAttach(ctx, "c1", client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := res.MediaType(); mt != "application/vnd.docker.multiplexed-stream" {
		t.Fatalf("media type = %q", mt)
	}
	if _, err := res.Conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := res.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	stderr := &notifyBuffer{wrote: make(chan struct{})}
	done := make(chan error, 1)
	go func() { _, err := stdcopy.StdCopy(&stdout, stderr, res.Reader); done <- err }()
	select {
	case <-stderr.wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("no output after the half-close")
	}
	res.Close() // a real disconnect now
	<-done
	if stdout.String() != "got:hello\n" || stderr.String() != "after eof\n" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	if !<-gone {
		t.Fatal("full close not reported as Gone")
	}

	_, err = c.ContainerAttach(ctx, "nope", client.ContainerAttachOptions{Stream: true, Stdout: true})
	if err == nil || !strings.Contains(err.Error(), "received 404") {
		t.Fatalf("attach to missing container: %v", err)
	}
}

func TestAttachTTYRaw(t *testing.T) {
	fc := &fakeContainers{AttachFunc: func(ctx context.Context, id string, opts AttachOptions, open func(bool) (*AttachStreams, error)) error {
		st, err := open(true)
		if err != nil {
			return err
		}
		_, _ = st.Stdout.Write([]byte("raw output"))
		return nil
	}}
	c, _ := testServer(t, Services{Containers: fc})
	res, err := c.ContainerAttach(ctxT(t), "c1", client.ContainerAttachOptions{Stream: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if mt, _ := res.MediaType(); mt != "application/vnd.docker.raw-stream" {
		t.Fatalf("media type = %q", mt)
	}
	out, _ := io.ReadAll(res.Reader)
	if string(out) != "raw output" {
		t.Fatalf("out = %q", out)
	}
}

func TestEventsStream(t *testing.T) {
	live := make(chan events.Message)
	var got EventsOptions
	fe := &fakeEvents{SubscribeFunc: func(ctx context.Context, opts EventsOptions) (<-chan events.Message, error) {
		got = opts
		if !opts.Until.IsZero() && opts.Until.Before(time.Now()) {
			ch := make(chan events.Message, 1)
			ch <- events.Message{Type: "container", Action: "die", Actor: events.Actor{ID: strings.Repeat("b", 64)}, TimeNano: opts.Until.UnixNano() - 1}
			close(ch)
			return ch, nil
		}
		return live, nil
	}}
	c, _ := testServer(t, Services{Events: fe})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	res := c.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.Add("type", "container").Add("event", "start")})
	// Events returned, so the headers were flushed before any event exists.
	if !got.Filters.ExactMatch("type", "container") || !slices.Equal(got.Filters.Get("event"), []string{"start"}) {
		t.Fatalf("filters = %v", got.Filters)
	}
	for i := range 2 {
		msg := events.Message{Type: "container", Action: "start", Actor: events.Actor{ID: fmt.Sprint(i)}, Time: 1, TimeNano: 1}
		go func() { live <- msg }()
		select {
		case m := <-res.Messages:
			if m.Actor.ID != fmt.Sprint(i) || m.Action != "start" {
				t.Fatalf("event = %+v", m)
			}
		case err := <-res.Err:
			t.Fatal(err)
		case <-time.After(3 * time.Second):
			t.Fatal("event not delivered: not flushed?")
		}
	}

	// until in the past: replay, then the stream ends.
	past := c.Events(ctx, client.EventsListOptions{Since: "1", Until: fmt.Sprint(time.Now().Add(-time.Minute).Unix())})
	if m := <-past.Messages; m.Action != "die" {
		t.Fatalf("replayed %+v", m)
	}
	if err := <-past.Err; err != io.EOF {
		t.Fatalf("end of replay: %v", err)
	}
	if got.Since.Unix() != 1 {
		t.Fatalf("since = %v", got.Since)
	}
	bad := c.Events(ctx, client.EventsListOptions{Filters: client.Filters{}.Add("bogus", "x")})
	if err := <-bad.Err; !cerrdefs.IsInvalidArgument(err) {
		t.Fatalf("bad filter: %v", err)
	}
}

func TestImageRoutesWithSlashes(t *testing.T) {
	var names []string
	fi := &fakeImages{
		InspectFunc: func(ctx context.Context, name string) (*image.InspectResponse, error) {
			names = append(names, name)
			return &image.InspectResponse{ID: "sha256:" + strings.Repeat("c", 64), RepoTags: []string{name}}, nil
		},
		DeleteFunc: func(ctx context.Context, name string, force, prune bool) ([]image.DeleteResponse, error) {
			names = append(names, fmt.Sprintf("%s force=%v prune=%v", name, force, prune))
			return []image.DeleteResponse{{Untagged: name}}, nil
		},
		ListFunc: func(ctx context.Context, opts ImageListOptions) ([]image.Summary, error) {
			return []image.Summary{{ID: "sha256:x", RepoTags: []string{"busybox:latest"}}}, nil
		},
	}
	c, sock := testServer(t, Services{Images: fi})
	ctx := ctxT(t)
	ins, err := c.ImageInspect(ctx, "localhost:5000/a/b:latest")
	if err != nil {
		t.Fatal(err)
	}
	if ins.RepoTags[0] != "localhost:5000/a/b:latest" {
		t.Fatalf("inspect = %+v", ins)
	}
	del, err := c.ImageRemove(ctx, "docker.io/library/busybox:latest", client.ImageRemoveOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if del.Items[0].Untagged != "docker.io/library/busybox:latest" {
		t.Fatalf("delete = %+v", del)
	}
	resp, err := rawClient(sock).Get("http://x/images/docker.io/library/busybox:latest/json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	list, err := c.ImageList(ctx, client.ImageListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	want := []string{"localhost:5000/a/b:latest", "docker.io/library/busybox:latest force=true prune=false", "docker.io/library/busybox:latest"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("names = %q, want %q", names, want)
	}
}

func TestPullStream(t *testing.T) {
	var gotAuth, gotRef string
	fi := &fakeImages{PullFunc: func(ctx context.Context, fromImage, tag, platform, auth string, w io.Writer) error {
		gotAuth, gotRef = auth, fromImage+":"+tag
		switch fromImage {
		case "docker.io/library/nope":
			return fmt.Errorf("pull access denied for nope: %w", errdefs.ErrNotFound)
		case "docker.io/library/broken":
			fmt.Fprintln(w, `{"status":"Pulling from library/broken","id":"latest"}`)
			return fmt.Errorf("layer digest mismatch")
		}
		fmt.Fprintln(w, `{"status":"Pulling fs layer","id":"abc"}`)
		fmt.Fprintln(w, `{"status":"Downloading","id":"abc","progressDetail":{"current":5,"total":10}}`)
		fmt.Fprintln(w, `{"status":"Pull complete","id":"abc"}`)
		return nil
	}}
	c, _ := testServer(t, Services{Images: fi})
	ctx := ctxT(t)
	resp, err := c.ImagePull(ctx, "busybox", client.ImagePullOptions{RegistryAuth: "e30="})
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, m.Status)
	}
	if len(statuses) != 3 || gotAuth != "e30=" || gotRef != "docker.io/library/busybox:latest" {
		t.Fatalf("statuses %q auth %q ref %q", statuses, gotAuth, gotRef)
	}
	if _, err := c.ImagePull(ctx, "nope", client.ImagePullOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("pull before first write: %v", err)
	}
	resp, err = c.ImagePull(ctx, "broken", client.ImagePullOptions{})
	if err != nil {
		t.Fatalf("error after first write must be in-band: %v", err)
	}
	if err := resp.Wait(ctx); err == nil || !strings.Contains(err.Error(), "layer digest mismatch") {
		t.Fatalf("in-band error = %v", err)
	}
}

func TestContainerListFilters(t *testing.T) {
	var got ListOptions
	fc := &fakeContainers{ListFunc: func(ctx context.Context, opts ListOptions) ([]container.Summary, error) {
		got = opts
		return []container.Summary{
			{ID: "aaa1", Names: []string{"/web"}, Image: "busybox", State: "running", Created: 3, Labels: map[string]string{"app": "web"}},
			{ID: "bbb2", Names: []string{"/db"}, Image: "docker.io/library/postgres:16", State: "exited", Status: "Exited (3) 1 second ago", Created: 2},
			{ID: "ccc3", Names: []string{"/job"}, Image: "busybox:latest", State: "created", Created: 1, Labels: map[string]string{"app": "job"}},
		}, nil
	}}
	c, sock := testServer(t, Services{Containers: fc})
	ctx := ctxT(t)
	ids := func(opts client.ContainerListOptions) string {
		t.Helper()
		res, err := c.ContainerList(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range res.Items {
			out = append(out, s.ID)
		}
		return strings.Join(out, ",")
	}
	for name, tc := range map[string]struct {
		opts client.ContainerListOptions
		want string
	}{
		"running only":  {client.ContainerListOptions{}, "aaa1"},
		"all":           {client.ContainerListOptions{All: true}, "aaa1,bbb2,ccc3"},
		"limit":         {client.ContainerListOptions{Limit: 2}, "aaa1,bbb2"},
		"status exited": {client.ContainerListOptions{Filters: client.Filters{}.Add("status", "exited")}, "bbb2"},
		"exited code":   {client.ContainerListOptions{Filters: client.Filters{}.Add("exited", "3")}, "bbb2"},
		"name":          {client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("name", "jo")}, "ccc3"},
		"id prefix":     {client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("id", "bbb")}, "bbb2"},
		"label key=val": {client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", "app=job")}, "ccc3"},
		"label key":     {client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", "app")}, "aaa1,ccc3"},
		"ancestor":      {client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("ancestor", "busybox")}, "aaa1,ccc3"},
		"ancestor fq":   {client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("ancestor", "postgres:16")}, "bbb2"},
		"two statuses":  {client.ContainerListOptions{Filters: client.Filters{}.Add("status", "exited", "created")}, "bbb2,ccc3"},
	} {
		if got := ids(tc.opts); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	ids(client.ContainerListOptions{Limit: 7, Filters: client.Filters{}.Add("status", "exited")})
	if !slices.Equal(got.Filters.Get("status"), []string{"exited"}) || got.Limit != 7 {
		t.Fatalf("service did not get the options: %+v", got)
	}
	// docker-py's legacy list form.
	resp, err := rawClient(sock).Get(`http://x/containers/json?filters={"status":["created"]}`)
	if err != nil {
		t.Fatal(err)
	}
	var list []container.Summary
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 1 || list[0].ID != "ccc3" {
		t.Fatalf("legacy filters: %+v", list)
	}
	for _, bad := range []client.Filters{client.Filters{}.Add("bogus", "1"), client.Filters{}.Add("status", "sleeping")} {
		if _, err := c.ContainerList(ctx, client.ContainerListOptions{Filters: bad}); !cerrdefs.IsInvalidArgument(err) {
			t.Fatalf("filter %v: %v", bad, err)
		}
	}
	// dockerd's wording, without the ": invalid argument" class suffix.
	_, err = c.ContainerList(ctx, client.ContainerListOptions{Filters: client.Filters{}.Add("bogus", "1")})
	if err == nil || !strings.HasSuffix(err.Error(), "invalid filter 'bogus'") {
		t.Fatalf("bad key message: %v", err)
	}
	resp, err = rawClient(sock).Get(`http://x/containers/json?filters={"status":"x"}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed filters: status %d", resp.StatusCode)
	}
}

func TestBoolValueAndTimestamps(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "no": false, "False": false, " none ": false, "1": true, "True": true, "yes": true} {
		r, _ := http.NewRequest("GET", "/x?b="+strings.ReplaceAll(v, " ", "%20"), nil)
		if got := boolValue(r, "b"); got != want {
			t.Errorf("boolValue(%q) = %v", v, got)
		}
	}
	ts, err := parseTimestamp("1700000000.000000042")
	if err != nil || ts.Unix() != 1700000000 || ts.Nanosecond() != 42 {
		t.Fatalf("parseTimestamp = %v, %v", ts, err)
	}
	if _, err := parseTimestamp("yesterday"); err == nil {
		t.Fatal("bad timestamp accepted")
	}
}

// notifyBuffer is a buffer that signals its first write.
type notifyBuffer struct {
	bytes.Buffer
	once  sync.Once
	wrote chan struct{}
}

func (b *notifyBuffer) Write(p []byte) (int, error) {
	n, err := b.Buffer.Write(p)
	b.once.Do(func() { close(b.wrote) })
	return n, err
}

func TestContainerResize(t *testing.T) {
	var got [3]any
	fc := &fakeContainers{ResizeFunc: func(ctx context.Context, id string, h, w uint) error {
		if id == "gone" {
			return fmt.Errorf("No such container: gone: %w", errdefs.ErrNotFound)
		}
		got = [3]any{id, h, w}
		return nil
	}}
	c, sock := testServer(t, Services{Containers: fc})
	if _, err := c.ContainerResize(context.Background(), "web", client.ContainerResizeOptions{Height: 40, Width: 120}); err != nil {
		t.Fatal(err)
	}
	if got != [3]any{"web", uint(40), uint(120)} {
		t.Errorf("service got %v, want web 40 120", got)
	}
	if _, err := c.ContainerResize(context.Background(), "gone", client.ContainerResizeOptions{Height: 1, Width: 1}); !cerrdefs.IsNotFound(err) {
		t.Errorf("resize of a missing container: %v, want not found", err)
	}
	resp, err := rawClient(sock).Post("http://x/containers/web/resize?h=-1&w=10", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("negative size: status %d, want 400", resp.StatusCode)
	}
}
