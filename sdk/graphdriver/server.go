package graphdriver

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/berth-dev/berth/sdk/errdefs"
	graphdriverpb "github.com/berth-dev/berth/sdk/graphdriver/proto"
)

// diffOpenHeader is sent as a response header once the implementation has
// opened the layer's tar stream, so the client can report a failure to open
// (unknown id) from Diff itself rather than from the first Read.
const diffOpenHeader = "berth-diff-open"

// diffChunkSize bounds one message of a Diff stream, well below gRPC's
// default 4 MiB message limit.
const diffChunkSize = 256 << 10

// server serves a Driver implementation as the berth.graphdriver.v1 service.
type server struct {
	graphdriverpb.UnimplementedGraphDriverServer
	impl Driver
}

func (s *server) Create(ctx context.Context, req *graphdriverpb.CreateRequest) (*graphdriverpb.CreateResponse, error) {
	if err := s.impl.Create(ctx, req.GetId(), req.GetParent(), req.GetRw()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &graphdriverpb.CreateResponse{}, nil
}

func (s *server) ApplyDiff(ctx context.Context, req *graphdriverpb.ApplyDiffRequest) (*graphdriverpb.ApplyDiffResponse, error) {
	size, err := s.impl.ApplyDiff(ctx, req.GetId(), req.GetBlobPath(), req.GetMediaType())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &graphdriverpb.ApplyDiffResponse{Size: size}, nil
}

func (s *server) Mount(ctx context.Context, req *graphdriverpb.MountRequest) (*graphdriverpb.MountResponse, error) {
	path, err := s.impl.Mount(ctx, req.GetId(), req.GetHolder())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &graphdriverpb.MountResponse{Path: path}, nil
}

func (s *server) Unmount(ctx context.Context, req *graphdriverpb.UnmountRequest) (*graphdriverpb.UnmountResponse, error) {
	if err := s.impl.Unmount(ctx, req.GetId(), req.GetHolder()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &graphdriverpb.UnmountResponse{}, nil
}

func (s *server) Remove(ctx context.Context, req *graphdriverpb.RemoveRequest) (*graphdriverpb.RemoveResponse, error) {
	if err := s.impl.Remove(ctx, req.GetId()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &graphdriverpb.RemoveResponse{}, nil
}

func (s *server) Diff(req *graphdriverpb.DiffRequest, stream grpc.ServerStreamingServer[graphdriverpb.DiffChunk]) error {
	ctx := stream.Context()
	rc, err := s.impl.Diff(ctx, req.GetId())
	if err != nil {
		return errdefs.ToGRPC(err)
	}
	defer rc.Close()
	if err := stream.SendHeader(metadata.Pairs(diffOpenHeader, "1")); err != nil {
		return err
	}
	buf := make([]byte, diffChunkSize)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			// Send copies the bytes into the wire message before returning,
			// so buf can be reused.
			if serr := stream.Send(&graphdriverpb.DiffChunk{Data: buf[:n]}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errdefs.ToGRPC(err)
		}
	}
}

func (s *server) Changes(ctx context.Context, req *graphdriverpb.ChangesRequest) (*graphdriverpb.ChangesResponse, error) {
	changes, err := s.impl.Changes(ctx, req.GetId())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	resp := &graphdriverpb.ChangesResponse{Changes: make([]*graphdriverpb.Change, 0, len(changes))}
	for _, c := range changes {
		resp.Changes = append(resp.Changes, &graphdriverpb.Change{Path: c.Path, Kind: int32(c.Kind)})
	}
	return resp, nil
}

func (s *server) Usage(ctx context.Context, req *graphdriverpb.UsageRequest) (*graphdriverpb.UsageResponse, error) {
	u, err := s.impl.Usage(ctx, req.GetId())
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &graphdriverpb.UsageResponse{Size: u.Size, Inodes: u.Inodes}, nil
}

func (s *server) Status(ctx context.Context, _ *graphdriverpb.StatusRequest) (*graphdriverpb.StatusResponse, error) {
	pairs, err := s.impl.Status(ctx)
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	resp := &graphdriverpb.StatusResponse{Pairs: make([]*graphdriverpb.StatusPair, 0, len(pairs))}
	for _, p := range pairs {
		resp.Pairs = append(resp.Pairs, &graphdriverpb.StatusPair{Key: p[0], Value: p[1]})
	}
	return resp, nil
}
