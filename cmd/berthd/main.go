// Command berthd is Berth's daemon: the microkernel plus its built-in
// plugins, each served in its own process by `berthd plugin serve NAME`.
// This file is wiring only.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/berth-dev/berth/builtin/containerd"
	"github.com/berth-dev/berth/kernel"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/sdk"
)

func main() {
	app := &cli.App{
		Name:   "berthd",
		Usage:  "the Berth container engine daemon",
		Flags:  daemonFlags(),
		Action: runDaemon,
		Commands: []*cli.Command{
			{
				Name:  "plugin",
				Usage: "built-in plugins",
				Subcommands: []*cli.Command{{
					Name:      "serve",
					Usage:     "serve a built-in plugin (started by berthd itself)",
					ArgsUsage: "NAME",
					Action: func(c *cli.Context) error {
						b, err := findBuiltin(c.Args().First())
						if err != nil {
							return err
						}
						sdk.Serve(b.serve())
						return nil
					},
				}},
			},
			{
				Name:  "containerd",
				Usage: "the managed containerd",
				Subcommands: []*cli.Command{{
					Name:  "stop",
					Usage: "stop the managed containerd of a root (it outlives berthd by design)",
					Flags: []cli.Flag{
						&cli.StringFlag{Name: "root", Value: "/var/lib/berth"},
						&cli.StringFlag{Name: "exec-root", Value: "/run/berth"},
					},
					Action: func(c *cli.Context) error {
						cfg := daemonConfig{Root: c.String("root"), ExecRoot: c.String("exec-root")}
						return containerd.StopManaged(managedContainerdRoot(cfg), managedContainerdState(cfg))
					},
				}},
			},
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "berthd:", err)
		os.Exit(1)
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func runDaemon(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return fmt.Errorf("unexpected arguments: %v", c.Args().Slice())
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	slog.SetDefault(log)
	if os.Geteuid() != 0 {
		return errors.New("berthd must run as root")
	}
	// Take the root's lock before anything else touches it: the plugin
	// host's stale-plugin cleanup would otherwise kill the plugins of a
	// berthd already running on this root. The kernel keeps it.
	lock, err := kernel.LockRoot(cfg.Root)
	if err != nil {
		return err
	}
	defer lock.Close()
	daemonID, err := kernel.DaemonID(cfg.Root)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var (
		mu      sync.Mutex
		daemon  *kernel.Daemon
		pending []plugins.Event
	)
	host := plugins.New(plugins.Config{
		ExecRoot:  cfg.ExecRoot,
		PluginDir: cfg.PluginDir,
		Logger:    log,
		OnEvent: func(ev plugins.Event) {
			mu.Lock()
			d := daemon
			if d == nil {
				pending = append(pending, ev)
			}
			mu.Unlock()
			if d != nil {
				d.PluginEvent(ev)
			}
		},
	})
	if err := registerBuiltins(host, cfg, daemonID); err != nil {
		return err
	}
	if err := host.LoadManifests(); err != nil {
		log.Warn("plugin manifests", "err", err)
	}
	started := time.Now()
	if err := host.Start(ctx, cfg.DefaultRuntime, cfg.StorageDriver); err != nil {
		shutdownPlugins(host)
		return fmt.Errorf("start plugins: %w", err)
	}
	log.Debug("plugins started", "took", time.Since(started))
	d, err := kernel.New(ctx, kernel.Config{
		Root:               cfg.Root,
		ExecRoot:           cfg.ExecRoot,
		Runtime:            cfg.DefaultRuntime,
		GraphDriver:        cfg.StorageDriver,
		Plugins:            host,
		InsecureRegistries: cfg.InsecureRegistries,
		Logger:             log,
		Lock:               lock,
	})
	if err != nil {
		shutdownPlugins(host)
		return err
	}
	mu.Lock()
	daemon = d
	early := pending
	pending = nil
	mu.Unlock()
	for _, ev := range early {
		d.PluginEvent(ev)
	}

	listeners, err := listen(cfg)
	if err != nil {
		d.Close()
		shutdownPlugins(host)
		return err
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		go func(l net.Listener) { errc <- srv.Serve(l) }(l)
	}
	log.Info("berthd is ready", "hosts", cfg.Hosts, "root", cfg.Root, "took", time.Since(started))

	select {
	case <-ctx.Done():
		log.Info("shutting down: containers keep running (live restore)")
	case err := <-errc:
		log.Error("API listener failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		_ = srv.Close() // streams such as /events never go idle by themselves
	}
	d.Close()
	shutdownPlugins(host)
	return nil
}

func shutdownPlugins(h *plugins.Host) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.Shutdown(ctx)
}
