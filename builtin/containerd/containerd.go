// Package containerd is Berth's built-in runtime plugin: it runs container
// tasks through containerd (v2 Go client, compatible with containerd 1.6) and
// runc.
//
// The plugin either talks to an existing containerd (the address key) or
// manages its own one, started in its own session so that containers keep
// running while berthd and its plugins are down. It creates containerd
// containers from the kernel's OCI spec as is (no image, no snapshot: the
// rootfs is the graph driver's mount), hands containerd the kernel's FIFO
// paths, and touches only objects labelled with its daemon id.
package containerd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// Name is the plugin's name in base.Info.
const Name = "containerd"

// Version is the plugin's version in base.Info.
const Version = "0.1.0"

// LabelDaemon is the containerd label that marks an object as owned by one
// berthd; its value is the daemon id.
const LabelDaemon = "berth.daemon"

// Configure keys and defaults.
const (
	KeyAddress   = "address"
	KeyNamespace = "namespace"
	KeyDaemonID  = "daemon-id"
	KeyRoot      = "root"
	KeyState     = "state"
	KeyRuntime   = "runtime"

	DefaultNamespace = "berth"
	DefaultShim      = "io.containerd.runc.v2"
)

// healthProbeTimeout bounds Health's wait for containerd's answer.
const healthProbeTimeout = 2 * time.Second

// Runtime implements runtime.Runtime on containerd.
type Runtime struct {
	mu     sync.RWMutex
	cfg    config
	client *client.Client

	// owners caches whether a container id carries our daemon label, so
	// that events need no lookup per exit. Only Create and Delete change
	// ownership of an id we have seen.
	ownersMu sync.Mutex
	owners   map[string]bool
}

// config is the parsed Configure map.
type config struct {
	address   string
	namespace string
	daemonID  string
	root      string
	state     string
	shim      string
	managed   bool
}

// New returns an unconfigured runtime; Configure must be called before any
// other call but Info.
func New() *Runtime {
	return &Runtime{owners: map[string]bool{}}
}

// Info describes the plugin. The kernel builds cgroupsPath as /berth/<id>
// (cgroupfs) because of the capability reported here.
func (r *Runtime) Info(context.Context) (base.Info, error) {
	return base.Info{
		Name:         Name,
		Kind:         base.KindRuntime,
		Version:      Version,
		Capabilities: []string{runtime.CapCgroupfs},
	}, nil
}

// Configure validates the settings, starts or reuses the managed containerd
// when no address is given, and connects. It may be called again; the new
// settings replace the old ones.
func (r *Runtime) Configure(ctx context.Context, settings map[string]string) error {
	cfg := config{namespace: DefaultNamespace, shim: DefaultShim}
	var unknown []string
	for k, v := range settings {
		switch k {
		case KeyAddress:
			cfg.address = v
		case KeyNamespace:
			if v != "" {
				cfg.namespace = v
			}
		case KeyDaemonID:
			cfg.daemonID = v
		case KeyRoot:
			cfg.root = v
		case KeyState:
			cfg.state = v
		case KeyRuntime:
			if v != "" {
				cfg.shim = v
			}
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return newError(errdefs.ErrInvalidArgument, "containerd runtime: unknown configuration keys: %s", strings.Join(unknown, ", "))
	}
	if cfg.daemonID == "" {
		return newError(errdefs.ErrInvalidArgument, "containerd runtime: %s is required", KeyDaemonID)
	}
	if err := identifiers.Validate(cfg.namespace); err != nil {
		return newError(errdefs.ErrInvalidArgument, "containerd runtime: namespace %q: %v", cfg.namespace, err)
	}
	if cfg.address == "" {
		if cfg.root == "" || cfg.state == "" {
			return newError(errdefs.ErrInvalidArgument, "containerd runtime: %s and %s are required for a managed containerd (no %s given)", KeyRoot, KeyState, KeyAddress)
		}
		if !strings.HasPrefix(cfg.root, "/") || !strings.HasPrefix(cfg.state, "/") {
			return newError(errdefs.ErrInvalidArgument, "containerd runtime: %s and %s must be absolute paths", KeyRoot, KeyState)
		}
		cfg.managed = true
		address, err := ensureManaged(ctx, cfg.root, cfg.state)
		if err != nil {
			return err
		}
		cfg.address = address
	}
	c, err := client.New(cfg.address, client.WithDefaultNamespace(cfg.namespace), client.WithDefaultRuntime(cfg.shim),
		client.WithExtraDialOpts([]grpc.DialOption{grpc.WithConnectParams(reconnect)}))
	if err != nil {
		return newError(errdefs.ErrUnavailable, "connect to containerd at %s: %v", cfg.address, err)
	}

	r.mu.Lock()
	old := r.client
	r.cfg, r.client = cfg, c
	r.mu.Unlock()
	r.ownersMu.Lock()
	r.owners = map[string]bool{}
	r.ownersMu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return nil
}

// reconnect bounds gRPC's reconnection backoff (two minutes by default), so
// the plugin is back within a second of containerd coming back, e.g. after
// Health restarted a managed containerd that had died.
var reconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 2 * time.Second,
}

// Health reports whether containerd answers. A managed containerd that has
// died is started again here: the supervisor polls Health, and containers
// whose shims survived reappear in List once containerd is back.
func (r *Runtime) Health(ctx context.Context) error {
	c, cfg, err := r.conn(ctx)
	if err != nil {
		return err
	}
	// IsServing waits for the connection to become ready, which never
	// happens while containerd is down: bound it.
	probe, cancel := context.WithTimeout(ctx, healthProbeTimeout)
	ok, err := c.IsServing(probe)
	cancel()
	if err == nil && ok {
		return nil
	}
	if cfg.managed {
		if _, found := managedPIDOf(cfg.root, cfg.state); !found {
			if _, err := ensureManaged(ctx, cfg.root, cfg.state); err != nil {
				return err
			}
			return nil
		}
	}
	if err == nil {
		err = fmt.Errorf("not serving")
	}
	return newError(errdefs.ErrUnavailable, "containerd at %s: %v", cfg.address, err)
}

// Close releases the connection to containerd. It never stops containerd.
func (r *Runtime) Close() error {
	r.mu.Lock()
	c := r.client
	r.client = nil
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.Close()
}

// Address returns the containerd socket in use ("" before Configure).
func (r *Runtime) Address() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cfg.address
}

// conn returns the client and config, and a context for them, or
// ErrUnavailable before Configure.
func (r *Runtime) conn(ctx context.Context) (*client.Client, config, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.client == nil {
		return nil, config{}, newError(errdefs.ErrUnavailable, "containerd runtime is not configured")
	}
	return r.client, r.cfg, nil
}

var _ runtime.Runtime = (*Runtime)(nil)
