package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// dial serves impl over go-plugin's in-memory gRPC connection and returns
// the client side, as the kernel would get it from Dispense.
func dial(t *testing.T, impl runtime.Runtime) runtime.Runtime {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindRuntime): &runtime.GRPCPlugin{Impl: impl},
	})
	t.Cleanup(func() {
		client.Close()
		server.Stop()
	})
	raw, err := client.Dispense(string(base.KindRuntime))
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	rt, ok := raw.(runtime.Runtime)
	if !ok {
		t.Fatalf("dispensed %T, not a runtime.Runtime", raw)
	}
	return rt
}

var exitedAt = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func TestRoundTripCarriesArgumentsAndResults(t *testing.T) {
	ctx := context.Background()
	spec := &specs.Spec{
		Version:  specs.Version,
		Hostname: "h1",
		Root:     &specs.Root{Path: "/rootfs"},
		Process:  &specs.Process{Args: []string{"sh", "-c", "exit 3"}, Cwd: "/"},
		Linux:    &specs.Linux{CgroupsPath: "/berth/c1"},
	}
	stdio := runtime.Stdio{Stdin: "/in", Stdout: "/out", Stderr: "/err", Terminal: true}
	limit := int64(1 << 20)
	resources := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
	task := runtime.Task{ID: "c1", Pid: 42, Status: runtime.StatusStopped, ExitStatus: 3, ExitedAt: exitedAt,
		Stdio: stdio, Labels: map[string]string{"berth.daemon": "d1"}}
	stats := &runtime.Stats{Read: exitedAt, CPUTotal: 1, CPUUser: 2, CPUKernel: 3, PerCPU: []uint64{4, 5},
		MemoryUsage: 6, MemoryMaxUsage: 7, MemoryLimit: 8, MemoryInactiveFile: 9,
		MemoryStats: map[string]uint64{"rss": 10}, PidsCurrent: 11, PidsLimit: 12, BlkioRead: 13, BlkioWrite: 14}

	var got []string // every call the fake saw, with its arguments
	record := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	fake := &runtime.Fake{
		InfoFunc: func(context.Context) (base.Info, error) {
			return base.Info{Name: "fake", Kind: base.KindRuntime, Version: "1.2.3", Capabilities: []string{runtime.CapCgroupfs}}, nil
		},
		ConfigureFunc: func(_ context.Context, c map[string]string) error { record("Configure %v", c); return nil },
		HealthFunc:    func(context.Context) error { record("Health"); return nil },
		CreateFunc: func(_ context.Context, req runtime.CreateRequest) error {
			if !reflect.DeepEqual(req.Spec, spec) {
				t.Errorf("spec changed on the wire: %+v", req.Spec)
			}
			record("Create %s %+v %v", req.ID, req.Stdio, req.Labels)
			return nil
		},
		StartFunc: func(_ context.Context, id string) (uint32, error) { record("Start %s", id); return 42, nil },
		KillFunc: func(_ context.Context, id, execID string, sig syscall.Signal, all bool) error {
			record("Kill %s %s %d %v", id, execID, sig, all)
			return nil
		},
		DeleteFunc: func(_ context.Context, id string) (uint32, time.Time, error) {
			record("Delete %s", id)
			return 3, exitedAt, nil
		},
		ExecFunc: func(_ context.Context, req runtime.ExecRequest) (uint32, error) {
			record("Exec %s %s %v %+v", req.ContainerID, req.ExecID, req.Process.Args, req.Stdio)
			return 43, nil
		},
		DeleteExecFunc: func(_ context.Context, id, execID string) error { record("DeleteExec %s %s", id, execID); return nil },
		ResizePTYFunc: func(_ context.Context, id, execID string, w, h uint32) error {
			record("ResizePTY %s %s %d %d", id, execID, w, h)
			return nil
		},
		CloseStdinFunc: func(_ context.Context, id, execID string) error { record("CloseStdin %s %s", id, execID); return nil },
		PauseFunc:      func(_ context.Context, id string) error { record("Pause %s", id); return nil },
		ResumeFunc:     func(_ context.Context, id string) error { record("Resume %s", id); return nil },
		UpdateFunc: func(_ context.Context, id string, r *specs.LinuxResources) error {
			record("Update %s %d", id, *r.Memory.Limit)
			return nil
		},
		StatsFunc: func(_ context.Context, id string) (*runtime.Stats, error) { record("Stats %s", id); return stats, nil },
		StateFunc: func(_ context.Context, id string) (runtime.Task, error) { record("State %s", id); return task, nil },
		ListFunc: func(context.Context) ([]runtime.Task, error) {
			record("List")
			return []runtime.Task{task, {ID: "c2"}}, nil
		},
	}
	rt := dial(t, fake)

	info, err := rt.Info(ctx)
	if err != nil || !reflect.DeepEqual(info, base.Info{Name: "fake", Kind: base.KindRuntime, Version: "1.2.3", Capabilities: []string{"cgroupfs"}}) {
		t.Errorf("Info = %+v, %v", info, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rt.Configure(ctx, map[string]string{"k": "v"}))
	must(rt.Health(ctx))
	must(rt.Create(ctx, runtime.CreateRequest{ID: "c1", Spec: spec, Stdio: stdio, Labels: map[string]string{"a": "b"}}))
	if pid, err := rt.Start(ctx, "c1"); err != nil || pid != 42 {
		t.Errorf("Start = %d, %v", pid, err)
	}
	must(rt.Kill(ctx, "c1", "e1", syscall.SIGKILL, true))
	if st, at, err := rt.Delete(ctx, "c1"); err != nil || st != 3 || !at.Equal(exitedAt) {
		t.Errorf("Delete = %d, %v, %v", st, at, err)
	}
	if pid, err := rt.Exec(ctx, runtime.ExecRequest{ContainerID: "c1", ExecID: "e1",
		Process: &specs.Process{Args: []string{"true"}}, Stdio: runtime.Stdio{Stdout: "/eo"}}); err != nil || pid != 43 {
		t.Errorf("Exec = %d, %v", pid, err)
	}
	must(rt.DeleteExec(ctx, "c1", "e1"))
	must(rt.ResizePTY(ctx, "c1", "e1", 80, 24))
	must(rt.CloseStdin(ctx, "c1", ""))
	must(rt.Pause(ctx, "c1"))
	must(rt.Resume(ctx, "c1"))
	must(rt.Update(ctx, "c1", resources))
	if s, err := rt.Stats(ctx, "c1"); err != nil || !reflect.DeepEqual(s, stats) {
		t.Errorf("Stats = %+v, %v", s, err)
	}
	if tk, err := rt.State(ctx, "c1"); err != nil || !reflect.DeepEqual(tk, task) {
		t.Errorf("State = %+v, %v", tk, err)
	}
	tasks, err := rt.List(ctx)
	if err != nil || len(tasks) != 2 || !reflect.DeepEqual(tasks[0], task) || tasks[1].ID != "c2" || !tasks[1].ExitedAt.IsZero() {
		t.Errorf("List = %+v, %v", tasks, err)
	}

	want := []string{
		"Configure map[k:v]",
		"Health",
		"Create c1 {Stdin:/in Stdout:/out Stderr:/err Terminal:true} map[a:b]",
		"Start c1",
		"Kill c1 e1 9 true",
		"Delete c1",
		"Exec c1 e1 [true] {Stdin: Stdout:/eo Stderr: Terminal:false}",
		"DeleteExec c1 e1",
		"ResizePTY c1 e1 80 24",
		"CloseStdin c1 ",
		"Pause c1",
		"Resume c1",
		"Update c1 1048576",
		"Stats c1",
		"State c1",
		"List",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls seen by the plugin:\n got %q\nwant %q", got, want)
	}
}

func TestRoundTripNilSpecStaysNil(t *testing.T) {
	var sawNil bool
	rt := dial(t, &runtime.Fake{CreateFunc: func(_ context.Context, req runtime.CreateRequest) error {
		sawNil = req.Spec == nil
		return nil
	}})
	if err := rt.Create(context.Background(), runtime.CreateRequest{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	if !sawNil {
		t.Error("nil spec arrived as non-nil")
	}
}

func TestRoundTripErrorsKeepClass(t *testing.T) {
	ctx := context.Background()
	for _, class := range []error{errdefs.ErrNotFound, errdefs.ErrConflict, errdefs.ErrInvalidArgument,
		errdefs.ErrUnavailable, errdefs.ErrDeadlineExceeded} {
		msg := fmt.Errorf("task c1: %w", class)
		rt := dial(t, &runtime.Fake{
			StartFunc:  func(context.Context, string) (uint32, error) { return 0, msg },
			StateFunc:  func(context.Context, string) (runtime.Task, error) { return runtime.Task{}, msg },
			EventsFunc: func(context.Context) (<-chan runtime.Event, <-chan error, error) { return nil, nil, msg },
			ConfigureFunc: func(context.Context, map[string]string) error {
				return msg
			},
		})
		_, err := rt.Start(ctx, "c1")
		if !errors.Is(err, class) || err.Error() != msg.Error() {
			t.Errorf("Start: got %v, want class %v and message %q", err, class, msg)
		}
		if _, err := rt.State(ctx, "c1"); !errors.Is(err, class) {
			t.Errorf("State: got %v, want %v", err, class)
		}
		if _, _, err := rt.Events(ctx); !errors.Is(err, class) {
			t.Errorf("Events: got %v, want %v", err, class)
		}
		if err := rt.Configure(ctx, nil); !errors.Is(err, class) {
			t.Errorf("Configure: got %v, want %v", err, class)
		}
	}
	// Methods the plugin leaves out are Unimplemented for the caller.
	rt := dial(t, &runtime.Fake{})
	if err := rt.Pause(ctx, "c1"); !errors.Is(err, errdefs.ErrUnimplemented) {
		t.Errorf("unimplemented Pause: %v", err)
	}
}

func TestEventsDeliversAndEndsWithContext(t *testing.T) {
	subscribed := make(chan struct{})
	serverDone := make(chan struct{})
	fake := &runtime.Fake{EventsFunc: func(ctx context.Context) (<-chan runtime.Event, <-chan error, error) {
		events := make(chan runtime.Event)
		errc := make(chan error, 1)
		close(subscribed)
		go func() {
			defer close(serverDone)
			defer close(errc)
			defer close(events)
			for i := range 3 {
				ev := runtime.Event{Type: runtime.EventExit, ContainerID: fmt.Sprintf("c%d", i), ExecID: "e", Pid: uint32(100 + i),
					ExitStatus: uint32(i), ExitedAt: exitedAt}
				select {
				case events <- ev:
				case <-ctx.Done():
					return
				}
			}
			events <- runtime.Event{Type: runtime.EventOOM, ContainerID: "c9"}
			<-ctx.Done() // the plugin's subscription lives until the caller ends it
		}()
		return events, errc, nil
	}}
	rt := dial(t, fake)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, errc, err := rt.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-subscribed:
	default:
		t.Fatal("Events returned before the plugin subscribed")
	}
	for i := range 3 {
		ev := <-events
		want := runtime.Event{Type: runtime.EventExit, ContainerID: fmt.Sprintf("c%d", i), ExecID: "e", Pid: uint32(100 + i),
			ExitStatus: uint32(i), ExitedAt: exitedAt}
		if !reflect.DeepEqual(ev, want) {
			t.Errorf("event %d = %+v, want %+v", i, ev, want)
		}
	}
	if ev := <-events; ev.Type != runtime.EventOOM || ev.ContainerID != "c9" {
		t.Errorf("oom event = %+v", ev)
	}
	cancel()
	timeout := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-events:
		case <-timeout:
			t.Fatal("events channel not closed after cancel")
		}
	}
	if err := <-errc; err != nil {
		t.Errorf("cancel reported an error: %v", err)
	}
	select {
	case <-serverDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin's subscription outlived the caller's context")
	}
}

func TestEventsReportsPluginFailure(t *testing.T) {
	fake := &runtime.Fake{EventsFunc: func(ctx context.Context) (<-chan runtime.Event, <-chan error, error) {
		events := make(chan runtime.Event)
		errc := make(chan error, 1)
		go func() {
			events <- runtime.Event{Type: runtime.EventExit, ContainerID: "c1"}
			errc <- fmt.Errorf("containerd went away: %w", errdefs.ErrUnavailable)
			close(events)
		}()
		return events, errc, nil
	}}
	rt := dial(t, fake)
	events, errc, err := rt.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.ContainerID != "c1" {
		t.Errorf("event = %+v", ev)
	}
	if _, open := <-events; open {
		t.Error("events channel still open after the plugin failed")
	}
	if err := <-errc; !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("stream error = %v, want unavailable", err)
	}
}
