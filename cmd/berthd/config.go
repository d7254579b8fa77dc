package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// daemonConfig holds berthd's settings. The JSON keys of --config are the
// flag names, so a config file reads like the command line it replaces.
type daemonConfig struct {
	Root                string   `json:"root"`
	ExecRoot            string   `json:"exec-root"`
	Hosts               []string `json:"hosts"`
	TLSVerify           bool     `json:"tlsverify"`
	TLSCACert           string   `json:"tlscacert"`
	TLSCert             string   `json:"tlscert"`
	TLSKey              string   `json:"tlskey"`
	Containerd          string   `json:"containerd"`
	ContainerdNamespace string   `json:"containerd-namespace"`
	DefaultRuntime      string   `json:"default-runtime"`
	StorageDriver       string   `json:"storage-driver"`
	PluginDir           string   `json:"plugin-dir"`
	LogLevel            string   `json:"log-level"`
	InsecureRegistries  []string `json:"insecure-registries"`
}

func defaultConfig() daemonConfig {
	return daemonConfig{
		Root:                "/var/lib/berth",
		ExecRoot:            "/run/berth",
		Hosts:               []string{"unix:///run/berth/berth.sock"},
		ContainerdNamespace: "berth",
		DefaultRuntime:      "containerd",
		StorageDriver:       "overlayfs",
		PluginDir:           "/etc/berth/plugins",
		LogLevel:            "info",
	}
}

// daemonFlags returns new flags each call: urfave/cli keeps parsed slice
// values inside the flag values.
func daemonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "JSON file with the same keys as the flags"},
		&cli.StringFlag{Name: "root", Usage: "root of persistent state", Value: "/var/lib/berth"},
		&cli.StringFlag{Name: "exec-root", Usage: "root of runtime state (sockets, FIFOs, pidfiles)", Value: "/run/berth"},
		&cli.StringSliceFlag{Name: "host", Aliases: []string{"H"}, Usage: "socket to listen on: unix:///path or tcp://addr:port (TLS only); repeatable"},
		&cli.BoolFlag{Name: "tlsverify", Usage: "require and verify TLS client certificates"},
		&cli.StringFlag{Name: "tlscacert", Usage: "CA certificate that signs client certificates"},
		&cli.StringFlag{Name: "tlscert", Usage: "server TLS certificate"},
		&cli.StringFlag{Name: "tlskey", Usage: "server TLS key"},
		&cli.StringFlag{Name: "containerd", Usage: "containerd socket to use; empty starts a managed containerd"},
		&cli.StringFlag{Name: "containerd-namespace", Usage: "containerd namespace", Value: "berth"},
		&cli.StringFlag{Name: "default-runtime", Usage: "runtime plugin name", Value: "containerd"},
		&cli.StringFlag{Name: "storage-driver", Usage: "graph driver plugin name", Value: "overlayfs"},
		&cli.StringFlag{Name: "plugin-dir", Usage: "directory of third-party plugin manifests", Value: "/etc/berth/plugins"},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
		&cli.StringSliceFlag{Name: "insecure-registry", Usage: "registry (host:port) reached over plain HTTP; repeatable"},
	}
}

// loadConfig merges defaults, the --config file and the flags set on the
// command line, in that order of increasing precedence.
func loadConfig(c *cli.Context) (daemonConfig, error) {
	cfg := defaultConfig()
	if path := c.String("config"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	str := func(name string, dst *string) {
		if c.IsSet(name) {
			*dst = c.String(name)
		}
	}
	str("root", &cfg.Root)
	str("exec-root", &cfg.ExecRoot)
	str("tlscacert", &cfg.TLSCACert)
	str("tlscert", &cfg.TLSCert)
	str("tlskey", &cfg.TLSKey)
	str("containerd", &cfg.Containerd)
	str("containerd-namespace", &cfg.ContainerdNamespace)
	str("default-runtime", &cfg.DefaultRuntime)
	str("storage-driver", &cfg.StorageDriver)
	str("plugin-dir", &cfg.PluginDir)
	str("log-level", &cfg.LogLevel)
	if c.IsSet("tlsverify") {
		cfg.TLSVerify = c.Bool("tlsverify")
	}
	if c.IsSet("host") {
		cfg.Hosts = c.StringSlice("host")
	}
	if c.IsSet("insecure-registry") {
		cfg.InsecureRegistries = c.StringSlice("insecure-registry")
	}
	return cfg, cfg.validate()
}

func (cfg daemonConfig) validate() error {
	if cfg.Root == "" || !strings.HasPrefix(cfg.Root, "/") {
		return errors.New("--root must be an absolute path")
	}
	if cfg.ExecRoot == "" || !strings.HasPrefix(cfg.ExecRoot, "/") {
		return errors.New("--exec-root must be an absolute path")
	}
	if len(cfg.Hosts) == 0 {
		return errors.New("at least one --host is needed")
	}
	for _, h := range cfg.Hosts {
		switch {
		case strings.HasPrefix(h, "unix://"):
		case strings.HasPrefix(h, "tcp://"):
			if !cfg.TLSVerify || cfg.TLSCACert == "" || cfg.TLSCert == "" || cfg.TLSKey == "" {
				return fmt.Errorf("refusing to listen on %s without TLS: give --tlsverify --tlscacert --tlscert --tlskey", h)
			}
		default:
			return fmt.Errorf("invalid --host %q: use unix:///path or tcp://addr:port", h)
		}
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", cfg.LogLevel)
	}
	return nil
}
