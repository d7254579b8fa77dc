package base

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"google.golang.org/grpc"

	basepb "github.com/berth-dev/berth/sdk/base/proto"
	"github.com/berth-dev/berth/sdk/errdefs"
)

// servers maps each gRPC server to the one Base service registered on it.
// go-plugin calls every kind's GRPCServer with the same *grpc.Server, and a
// service can be registered there only once, so later kinds join the first
// registration instead.
var (
	serversMu sync.Mutex
	servers   = map[*grpc.Server]*server{}
)

// RegisterGRPCServer serves impl as the base service of kind on s. Each kind
// of a plugin process calls it from its GRPCPlugin.GRPCServer; requests are
// dispatched by the kind they carry.
func RegisterGRPCServer(s *grpc.Server, kind Kind, impl Plugin) {
	serversMu.Lock()
	defer serversMu.Unlock()
	srv, ok := servers[s]
	if !ok {
		srv = &server{impls: map[Kind]Plugin{}}
		servers[s] = srv
		basepb.RegisterBaseServer(s, srv)
	}
	srv.mu.Lock()
	srv.impls[kind] = impl
	srv.mu.Unlock()
}

// server is the Base service of one gRPC server.
type server struct {
	basepb.UnimplementedBaseServer

	mu    sync.Mutex
	impls map[Kind]Plugin
}

// lookup finds the implementation of kind. An empty kind is accepted when the
// process serves exactly one kind, so simple tools need not know it.
func (s *server) lookup(kind string) (Plugin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind == "" && len(s.impls) == 1 {
		for _, impl := range s.impls {
			return impl, nil
		}
	}
	impl, ok := s.impls[Kind(kind)]
	if !ok {
		served := make([]string, 0, len(s.impls))
		for k := range s.impls {
			served = append(served, string(k))
		}
		sort.Strings(served)
		return nil, errdefs.ToGRPC(fmt.Errorf("plugin kind %q is not served here (serving %v): %w", kind, served, errdefs.ErrNotFound))
	}
	return impl, nil
}

func (s *server) Info(ctx context.Context, req *basepb.InfoRequest) (*basepb.InfoResponse, error) {
	impl, err := s.lookup(req.GetKind())
	if err != nil {
		return nil, err
	}
	info, err := impl.Info(ctx)
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &basepb.InfoResponse{
		Name:         info.Name,
		Kind:         string(info.Kind),
		Version:      info.Version,
		Capabilities: info.Capabilities,
	}, nil
}

func (s *server) Configure(ctx context.Context, req *basepb.ConfigureRequest) (*basepb.ConfigureResponse, error) {
	impl, err := s.lookup(req.GetKind())
	if err != nil {
		return nil, err
	}
	if err := impl.Configure(ctx, req.GetConfig()); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &basepb.ConfigureResponse{}, nil
}

func (s *server) Health(ctx context.Context, req *basepb.HealthRequest) (*basepb.HealthResponse, error) {
	impl, err := s.lookup(req.GetKind())
	if err != nil {
		return nil, err
	}
	if err := impl.Health(ctx); err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &basepb.HealthResponse{}, nil
}
