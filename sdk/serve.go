package sdk

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/graphdriver"
	"github.com/berth-dev/berth/sdk/runtime"
)

// ParentFDEnv names the environment variable that carries the number of an
// inherited fd (a pipe's read end whose write end berthd keeps open). Serve
// exits the process when a read on it returns EOF or an error.
const ParentFDEnv = "BERTH_PLUGIN_PARENT_FD"

// LogLevelEnv names the environment variable that sets the level of the
// loggers made by NewLogger (trace, debug, info, warn, error; default info).
const LogLevelEnv = "BERTH_PLUGIN_LOG_LEVEL"

// Plugins lists the implementations one plugin process serves; nil fields
// are not served.
type Plugins struct {
	Runtime     runtime.Runtime
	GraphDriver graphdriver.Driver
	// later issues add Network, IPAM, Volume, Log, Authz
}

// NewLogger returns a logger that writes hclog JSON lines to stderr, which
// go-plugin relays into berthd's log with their level and fields.
func NewLogger(name string) hclog.Logger {
	level := hclog.LevelFromString(os.Getenv(LogLevelEnv))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      level,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// Serve serves the given implementations over go-plugin gRPC (AutoMTLS is
// driven by the host) and never returns. The process exits when berthd's
// end of the parent pipe closes (see ParentFDEnv), because Pdeathsig alone
// follows the parent's thread, not its process, in Go.
func Serve(p Plugins) {
	logger := NewLogger("plugin")
	if err := watchParent(os.Getenv(ParentFDEnv), logger); err != nil {
		logger.Error("cannot watch the parent pipe", "error", err)
		os.Exit(1)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         ServerPluginSet(p),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(inflight.track))...)
		},
		Logger: logger,
	})
	os.Exit(0)
}

// watchParent starts a goroutine that exits the process once the inherited
// pipe fd named by value reaches EOF. An empty value means no parent pipe
// (a plugin started by hand or by a test harness).
func watchParent(value string, logger hclog.Logger) error {
	if value == "" {
		return nil
	}
	fd, err := strconv.Atoi(value)
	if err != nil || fd < 0 {
		return fmt.Errorf("%s=%q is not a file descriptor", ParentFDEnv, value)
	}
	f := os.NewFile(uintptr(fd), "berthd-parent-pipe")
	if f == nil {
		return fmt.Errorf("%s=%d is not a valid file descriptor", ParentFDEnv, fd)
	}
	go func() {
		// berthd never writes; a read returns only when its end is gone.
		_, err := io.Copy(io.Discard, f)
		// stderr went to berthd, which is gone: without this, the next log
		// line would kill the process with SIGPIPE in the middle of the
		// calls it is about to finish.
		signal.Ignore(syscall.SIGPIPE)
		logger.Info("berthd went away, exiting once calls in flight end", "error", err)
		inflight.wait(drainTimeout)
		os.Exit(0)
	}()
	return nil
}

// drainTimeout bounds how long a plugin whose berthd died finishes the calls
// it is serving before it exits.
const drainTimeout = 30 * time.Second

// inflight counts the unary calls being served, so a plugin whose berthd
// died finishes them (a half-made container would outlive both) instead of
// exiting in their middle. Streams (runtime events) are not counted.
var inflight callCounter

type callCounter struct {
	mu   sync.Mutex
	n    int
	idle *sync.Cond
}

func (c *callCounter) track(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.n--
		if c.n == 0 && c.idle != nil {
			c.idle.Broadcast()
		}
		c.mu.Unlock()
	}()
	return handler(ctx, req)
}

// wait returns when no call is in flight or after timeout.
func (c *callCounter) wait(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		c.mu.Lock()
		if c.idle == nil {
			c.idle = sync.NewCond(&c.mu)
		}
		for c.n > 0 {
			c.idle.Wait()
		}
		c.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// ServerPluginSet returns the go-plugin PluginSet serving p (keys are
// string(base.KindXxx), e.g. "berth.runtime.v1").
func ServerPluginSet(p Plugins) plugin.PluginSet {
	set := plugin.PluginSet{}
	if p.Runtime != nil {
		set[string(base.KindRuntime)] = &runtime.GRPCPlugin{Impl: p.Runtime}
	}
	if p.GraphDriver != nil {
		set[string(base.KindGraphDriver)] = &graphdriver.GRPCPlugin{Impl: p.GraphDriver}
	}
	return set
}

// ClientPluginSet returns the PluginSet the host uses to dispense every kind:
//
//	raw, _ := rpcClient.Dispense(string(base.KindRuntime)); rt := raw.(runtime.Runtime)
func ClientPluginSet() plugin.PluginSet {
	return plugin.PluginSet{
		string(base.KindRuntime):     &runtime.GRPCPlugin{},
		string(base.KindGraphDriver): &graphdriver.GRPCPlugin{},
	}
}
