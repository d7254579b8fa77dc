// Package kernel composes berthd's microkernel: the store, the event bus, the
// container registry, the image store and the plugin proxies, behind the
// narrow services the API handlers use (containers, images, events, system).
//
// Start order (New): lock the root, open the store, open the plugin proxies
// (the plugins themselves are started by the host), open the image store,
// subscribe to runtime events, restore containers. Shutdown stops only the
// API and the plugins: containers, their mounts, FIFOs and namespaces, and
// containerd stay (live restore).
package kernel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/kernel/api"
	"github.com/berth-dev/berth/kernel/container"
	kevents "github.com/berth-dev/berth/kernel/events"
	"github.com/berth-dev/berth/kernel/image"
	"github.com/berth-dev/berth/kernel/store"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/sdk/graphdriver"
	"github.com/berth-dev/berth/sdk/runtime"
)

// Version is the engine version reported by /version and /info.
var Version = "0.1.0-dev"

// Config configures a Daemon.
type Config struct {
	Root     string
	ExecRoot string
	// Runtime and GraphDriver name the plugins (registered in Plugins).
	Runtime     string
	GraphDriver string
	// Plugins is the plugin host, with the plugins registered and the
	// runtime and graph driver already started.
	Plugins            *plugins.Host
	InsecureRegistries []string
	Logger             *slog.Logger
	// Lock is the root's lock file when the caller took it already (with
	// LockRoot, before starting plugins); the Daemon then owns it.
	Lock *os.File
}

// Daemon is the running kernel. Its methods are split by concern across
// files; the API sees it only through the narrow services of Services.
type Daemon struct {
	cfg  Config
	log  *slog.Logger
	id   string
	lock *os.File

	store  *store.Store
	bus    *kevents.Bus
	reg    *container.Registry
	queue  *container.Queue
	images *image.Store
	rt     runtime.Runtime
	gd     graphdriver.Driver

	pluginEvents chan events.Message

	ioMu sync.Mutex
	io   map[string]*containerIO // by container id

	started   time.Time
	cancel    context.CancelFunc
	bg        sync.WaitGroup
	closeOnce sync.Once
}

// LockRoot takes the root's lock file, so only one berthd uses a root. It
// fails at once, with a clear message, when another berthd holds it.
func LockRoot(root string) (*os.File, error) {
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, err
	}
	path := filepath.Join(root, "berthd.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another berthd is already running with root %s (lock %s is held)", root, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}

// DaemonID returns the engine id stored under root, creating it on first use.
// Runtime objects are labelled with it, so a berthd only touches its own.
func DaemonID(root string) (string, error) {
	path := filepath.Join(root, "engine-id")
	if data, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(data)); id != "" {
			return id, nil
		}
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b)
	if err := os.MkdirAll(root, 0o711); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, os.Rename(tmp, path)
}

// New opens the kernel on cfg.Root: it takes the lock, opens the store and
// the image store, subscribes to runtime events and restores containers.
func New(ctx context.Context, cfg Config) (_ *Daemon, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Daemon{
		cfg:     cfg,
		log:     cfg.Logger,
		reg:     container.NewRegistry(),
		queue:   container.NewQueue(),
		io:      make(map[string]*containerIO),
		started: time.Now(),
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.lock = cfg.Lock; d.lock == nil {
		if d.lock, err = LockRoot(cfg.Root); err != nil {
			return nil, err
		}
	}
	if d.id, err = DaemonID(cfg.Root); err != nil {
		return nil, fmt.Errorf("engine id: %w", err)
	}
	for _, dir := range []string{cfg.ExecRoot, d.stdioDir(), d.netnsDir()} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
	}
	d.store, err = store.Open(filepath.Join(cfg.Root, "berth.db"), store.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	d.bus = kevents.New(kevents.Options{History: d.store})
	if d.rt, err = cfg.Plugins.Runtime(cfg.Runtime); err != nil {
		return nil, err
	}
	if d.gd, err = cfg.Plugins.GraphDriver(cfg.GraphDriver); err != nil {
		return nil, err
	}
	d.images, err = image.New(d.store.DB(), cfg.Root, d.gd, image.Options{InsecureRegistries: cfg.InsecureRegistries})
	if err != nil {
		return nil, err
	}
	bgctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.pluginEvents = make(chan events.Message, 256)
	d.bg.Add(1)
	go d.recordPluginEvents(bgctx)
	// Exits are subscribed to before restore lists the tasks, so none falls
	// in between.
	if err := d.watchRuntime(bgctx); err != nil {
		return nil, err
	}
	if err := d.restore(ctx); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := cfg.Plugins.OnRestart(cfg.Runtime, d.reconcile); err != nil {
		return nil, err
	}
	if err := cfg.Plugins.OnRestart(cfg.GraphDriver, d.redeclareMounts); err != nil {
		return nil, err
	}
	return d, nil
}

// Handler returns the Docker Engine API handler over this daemon.
func (d *Daemon) Handler() http.Handler {
	return api.New(api.Services{
		Containers: &containerService{d: d},
		Images:     &imageService{d: d},
		Events:     &eventService{d: d},
		System:     &systemService{d: d},
	}, api.Config{Logger: d.log, Version: Version})
}

// PluginEvent turns a plugin host event into a Docker event of type plugin,
// persisted like every other event. cmd/berthd wires it as the host's
// OnEvent, which must not block: events are queued, in order, and written by
// one goroutine.
func (d *Daemon) PluginEvent(ev plugins.Event) {
	if d == nil || d.pluginEvents == nil {
		return
	}
	select {
	case d.pluginEvents <- pluginMessage(ev):
	default:
		d.log.Warn("plugin event dropped: queue full", "plugin", ev.Name, "action", ev.Action)
	}
}

func (d *Daemon) recordPluginEvents(ctx context.Context) {
	defer d.bg.Done()
	for {
		select {
		case ev := <-d.pluginEvents:
			d.record(ev)
		case <-ctx.Done():
			return
		}
	}
}

// Close releases what New opened and stops background work. It leaves the
// containers, their mounts, FIFOs and namespaces in place: copiers are
// detached, not drained, so output waits in the pipes for the next berthd.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		if d.cancel != nil {
			d.cancel()
		}
		d.ioMu.Lock()
		for _, cio := range d.io {
			cio.detach()
		}
		d.ioMu.Unlock()
		d.bg.Wait()
		if d.store != nil {
			d.store.Close()
		}
		if d.lock != nil {
			d.lock.Close()
		}
	})
	return nil
}

func (d *Daemon) stdioDir() string { return filepath.Join(d.cfg.ExecRoot, "containers") }
func (d *Daemon) netnsDir() string { return filepath.Join(d.cfg.ExecRoot, "netns") }
