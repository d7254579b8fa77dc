package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	runtimepb "github.com/berth-dev/berth/sdk/runtime/proto"
)

// client is the kernel's side of a runtime plugin: it implements Runtime by
// calling the berth.runtime.v1 service.
type client struct {
	base.Plugin
	rc runtimepb.RuntimeClient
}

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{
		Plugin: base.NewGRPCClient(conn, base.KindRuntime),
		rc:     runtimepb.NewRuntimeClient(conn),
	}
}

func (c *client) Create(ctx context.Context, req CreateRequest) error {
	spec, err := marshalJSON(req.Spec)
	if err != nil {
		return fmt.Errorf("create %s: %w", req.ID, err)
	}
	_, err = c.rc.Create(ctx, &runtimepb.CreateRequest{
		Id:       req.ID,
		SpecJson: spec,
		Stdio:    stdioToPB(req.Stdio),
		Labels:   req.Labels,
	})
	return errdefs.FromGRPC(err)
}

func (c *client) Start(ctx context.Context, id string) (uint32, error) {
	resp, err := c.rc.Start(ctx, &runtimepb.StartRequest{Id: id})
	if err != nil {
		return 0, errdefs.FromGRPC(err)
	}
	return resp.GetPid(), nil
}

func (c *client) Kill(ctx context.Context, id, execID string, signal syscall.Signal, all bool) error {
	_, err := c.rc.Kill(ctx, &runtimepb.KillRequest{Id: id, ExecId: execID, Signal: uint32(signal), All: all})
	return errdefs.FromGRPC(err)
}

func (c *client) Events(ctx context.Context) (<-chan Event, <-chan error, error) {
	stream, err := c.rc.Events(ctx, &runtimepb.EventsRequest{})
	if err != nil {
		return nil, nil, errdefs.FromGRPC(err)
	}
	// Waiting for the header makes Events return only once the plugin is
	// subscribed, so the exit of a task started afterwards cannot be missed.
	md, err := stream.Header()
	if err != nil {
		return nil, nil, errdefs.FromGRPC(err)
	}
	if len(md.Get(subscribedHeader)) == 0 {
		// A trailers-only answer: the plugin refused to subscribe.
		_, err := stream.Recv()
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("runtime events: stream ended before it was subscribed: %w", errdefs.ErrUnavailable)
		}
		return nil, nil, errdefs.FromGRPC(err)
	}
	events := make(chan Event)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		defer close(events)
		for {
			msg, err := stream.Recv()
			if err != nil {
				if ctx.Err() != nil {
					return // the caller ended the stream
				}
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("runtime events: stream ended: %w", errdefs.ErrUnavailable)
				}
				errc <- errdefs.FromGRPC(err)
				return
			}
			select {
			case events <- eventFromPB(msg):
			case <-ctx.Done():
				return
			}
		}
	}()
	return events, errc, nil
}

func (c *client) Delete(ctx context.Context, id string) (uint32, time.Time, error) {
	resp, err := c.rc.Delete(ctx, &runtimepb.DeleteRequest{Id: id})
	if err != nil {
		return 0, time.Time{}, errdefs.FromGRPC(err)
	}
	return resp.GetExitStatus(), fromUnixNano(resp.GetExitedAtUnixNano()), nil
}

func (c *client) Exec(ctx context.Context, req ExecRequest) (uint32, error) {
	proc, err := marshalJSON(req.Process)
	if err != nil {
		return 0, fmt.Errorf("exec %s in %s: %w", req.ExecID, req.ContainerID, err)
	}
	resp, err := c.rc.Exec(ctx, &runtimepb.ExecRequest{
		ContainerId: req.ContainerID,
		ExecId:      req.ExecID,
		ProcessJson: proc,
		Stdio:       stdioToPB(req.Stdio),
	})
	if err != nil {
		return 0, errdefs.FromGRPC(err)
	}
	return resp.GetPid(), nil
}

func (c *client) DeleteExec(ctx context.Context, id, execID string) error {
	_, err := c.rc.DeleteExec(ctx, &runtimepb.DeleteExecRequest{Id: id, ExecId: execID})
	return errdefs.FromGRPC(err)
}

func (c *client) ResizePTY(ctx context.Context, id, execID string, width, height uint32) error {
	_, err := c.rc.ResizePTY(ctx, &runtimepb.ResizePTYRequest{Id: id, ExecId: execID, Width: width, Height: height})
	return errdefs.FromGRPC(err)
}

func (c *client) CloseStdin(ctx context.Context, id, execID string) error {
	_, err := c.rc.CloseStdin(ctx, &runtimepb.CloseStdinRequest{Id: id, ExecId: execID})
	return errdefs.FromGRPC(err)
}

func (c *client) Pause(ctx context.Context, id string) error {
	_, err := c.rc.Pause(ctx, &runtimepb.PauseRequest{Id: id})
	return errdefs.FromGRPC(err)
}

func (c *client) Resume(ctx context.Context, id string) error {
	_, err := c.rc.Resume(ctx, &runtimepb.ResumeRequest{Id: id})
	return errdefs.FromGRPC(err)
}

func (c *client) Update(ctx context.Context, id string, resources *specs.LinuxResources) error {
	res, err := marshalJSON(resources)
	if err != nil {
		return fmt.Errorf("update %s: %w", id, err)
	}
	_, err = c.rc.Update(ctx, &runtimepb.UpdateRequest{Id: id, ResourcesJson: res})
	return errdefs.FromGRPC(err)
}

func (c *client) Stats(ctx context.Context, id string) (*Stats, error) {
	resp, err := c.rc.Stats(ctx, &runtimepb.StatsRequest{Id: id})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	return statsFromPB(resp), nil
}

func (c *client) State(ctx context.Context, id string) (Task, error) {
	resp, err := c.rc.State(ctx, &runtimepb.StateRequest{Id: id})
	if err != nil {
		return Task{}, errdefs.FromGRPC(err)
	}
	return taskFromPB(resp.GetTask()), nil
}

func (c *client) List(ctx context.Context) ([]Task, error) {
	resp, err := c.rc.List(ctx, &runtimepb.ListRequest{})
	if err != nil {
		return nil, errdefs.FromGRPC(err)
	}
	tasks := make([]Task, 0, len(resp.GetTasks()))
	for _, t := range resp.GetTasks() {
		tasks = append(tasks, taskFromPB(t))
	}
	return tasks, nil
}

var _ Runtime = (*client)(nil)
