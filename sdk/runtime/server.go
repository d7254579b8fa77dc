package runtime

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/berth-dev/berth/sdk/errdefs"
	runtimepb "github.com/berth-dev/berth/sdk/runtime/proto"
)

// subscribedHeader is sent as a response header once the implementation's
// event subscription exists; the client waits for it so that events of a
// Start that follows Events are never missed.
const subscribedHeader = "berth-events-subscribed"

// server serves a Runtime implementation as the berth.runtime.v1 service.
type server struct {
	runtimepb.UnimplementedRuntimeServer
	impl Runtime
}

func (s *server) Create(ctx context.Context, req *runtimepb.CreateRequest) (*runtimepb.CreateResponse, error) {
	spec, err := unmarshalJSON[specs.Spec](req.GetSpecJson())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	err = s.impl.Create(ctx, CreateRequest{
		ID:     req.GetId(),
		Spec:   spec,
		Stdio:  stdioFromPB(req.GetStdio()),
		Labels: req.GetLabels(),
	})
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.CreateResponse{}, nil
}

func (s *server) Start(ctx context.Context, req *runtimepb.StartRequest) (*runtimepb.StartResponse, error) {
	pid, err := s.impl.Start(ctx, req.GetId())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.StartResponse{Pid: pid}, nil
}

func (s *server) Kill(ctx context.Context, req *runtimepb.KillRequest) (*runtimepb.KillResponse, error) {
	if err := s.impl.Kill(ctx, req.GetId(), req.GetExecId(), syscall.Signal(req.GetSignal()), req.GetAll()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.KillResponse{}, nil
}

func (s *server) Events(_ *runtimepb.EventsRequest, stream grpc.ServerStreamingServer[runtimepb.Event]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	events, errc, err := s.impl.Events(ctx)
	if err != nil {
		return errdefs.ToGRPC(err)
	}
	if err := stream.SendHeader(metadata.Pairs(subscribedHeader, "1")); err != nil {
		return err
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errdefs.ToGRPC(endReason(ctx, errc))
			}
			if err := stream.Send(eventToPB(ev)); err != nil {
				return err
			}
		case err := <-errc:
			if err != nil {
				return errdefs.ToGRPC(err)
			}
			errc = nil // closed without an error: keep reading events
		case <-ctx.Done():
			return errdefs.ToGRPC(ctx.Err())
		}
	}
}

// endReason waits briefly for the error that explains why an
// implementation closed its events channel; implementations may send it
// just after closing the channel.
func endReason(ctx context.Context, errc <-chan error) error {
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	select {
	case err, ok := <-errc:
		if ok && err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("runtime closed its event stream: %w", errdefs.ErrUnavailable)
}

func (s *server) Delete(ctx context.Context, req *runtimepb.DeleteRequest) (*runtimepb.DeleteResponse, error) {
	status, exitedAt, err := s.impl.Delete(ctx, req.GetId())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.DeleteResponse{ExitStatus: status, ExitedAtUnixNano: unixNano(exitedAt)}, nil
}

func (s *server) Exec(ctx context.Context, req *runtimepb.ExecRequest) (*runtimepb.ExecResponse, error) {
	proc, err := unmarshalJSON[specs.Process](req.GetProcessJson())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	pid, err := s.impl.Exec(ctx, ExecRequest{
		ContainerID: req.GetContainerId(),
		ExecID:      req.GetExecId(),
		Process:     proc,
		Stdio:       stdioFromPB(req.GetStdio()),
	})
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.ExecResponse{Pid: pid}, nil
}

func (s *server) DeleteExec(ctx context.Context, req *runtimepb.DeleteExecRequest) (*runtimepb.DeleteExecResponse, error) {
	if err := s.impl.DeleteExec(ctx, req.GetId(), req.GetExecId()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.DeleteExecResponse{}, nil
}

func (s *server) ResizePTY(ctx context.Context, req *runtimepb.ResizePTYRequest) (*runtimepb.ResizePTYResponse, error) {
	if err := s.impl.ResizePTY(ctx, req.GetId(), req.GetExecId(), req.GetWidth(), req.GetHeight()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.ResizePTYResponse{}, nil
}

func (s *server) CloseStdin(ctx context.Context, req *runtimepb.CloseStdinRequest) (*runtimepb.CloseStdinResponse, error) {
	if err := s.impl.CloseStdin(ctx, req.GetId(), req.GetExecId()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.CloseStdinResponse{}, nil
}

func (s *server) Pause(ctx context.Context, req *runtimepb.PauseRequest) (*runtimepb.PauseResponse, error) {
	if err := s.impl.Pause(ctx, req.GetId()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.PauseResponse{}, nil
}

func (s *server) Resume(ctx context.Context, req *runtimepb.ResumeRequest) (*runtimepb.ResumeResponse, error) {
	if err := s.impl.Resume(ctx, req.GetId()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.ResumeResponse{}, nil
}

func (s *server) Update(ctx context.Context, req *runtimepb.UpdateRequest) (*runtimepb.UpdateResponse, error) {
	res, err := unmarshalJSON[specs.LinuxResources](req.GetResourcesJson())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	if err := s.impl.Update(ctx, req.GetId(), res); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.UpdateResponse{}, nil
}

func (s *server) Stats(ctx context.Context, req *runtimepb.StatsRequest) (*runtimepb.StatsResponse, error) {
	st, err := s.impl.Stats(ctx, req.GetId())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	if st == nil {
		st = &Stats{}
	}
	return statsToPB(st), nil
}

func (s *server) State(ctx context.Context, req *runtimepb.StateRequest) (*runtimepb.StateResponse, error) {
	t, err := s.impl.State(ctx, req.GetId())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &runtimepb.StateResponse{Task: taskToPB(t)}, nil
}

func (s *server) List(ctx context.Context, _ *runtimepb.ListRequest) (*runtimepb.ListResponse, error) {
	tasks, err := s.impl.List(ctx)
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	resp := &runtimepb.ListResponse{Tasks: make([]*runtimepb.Task, 0, len(tasks))}
	for _, t := range tasks {
		resp.Tasks = append(resp.Tasks, taskToPB(t))
	}
	return resp, nil
}
