package main

import (
	"fmt"
	"path/filepath"

	"github.com/berth-dev/berth/builtin/containerd"
	"github.com/berth-dev/berth/builtin/overlayfs"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/sdk"
	"github.com/berth-dev/berth/sdk/base"
)

// builtin is one plugin compiled into berthd and served by
// `berthd plugin serve NAME` in its own process.
type builtin struct {
	name   string
	kinds  []base.Kind
	serve  func() sdk.Plugins
	config func(cfg daemonConfig, daemonID string) map[string]string
}

// builtins lists the built-in plugins, in the order they are registered.
var builtins = []builtin{
	{
		name:  containerd.Name,
		kinds: []base.Kind{base.KindRuntime},
		serve: func() sdk.Plugins { return sdk.Plugins{Runtime: containerd.New()} },
		config: func(cfg daemonConfig, daemonID string) map[string]string {
			return map[string]string{
				"address":   cfg.Containerd,
				"namespace": cfg.ContainerdNamespace,
				"daemon-id": daemonID,
				"root":      managedContainerdRoot(cfg),
				"state":     managedContainerdState(cfg),
			}
		},
	},
	{
		name:  overlayfs.Name,
		kinds: []base.Kind{base.KindGraphDriver},
		serve: func() sdk.Plugins { return sdk.Plugins{GraphDriver: overlayfs.New()} },
		config: func(cfg daemonConfig, _ string) map[string]string {
			return map[string]string{"home": filepath.Join(cfg.Root, "overlay2")}
		},
	},
}

func managedContainerdRoot(cfg daemonConfig) string { return filepath.Join(cfg.Root, "containerd") }
func managedContainerdState(cfg daemonConfig) string {
	return filepath.Join(cfg.ExecRoot, "containerd")
}

func findBuiltin(name string) (builtin, error) {
	for _, b := range builtins {
		if b.name == name {
			return b, nil
		}
	}
	return builtin{}, fmt.Errorf("no built-in plugin named %q", name)
}

func registerBuiltins(h *plugins.Host, cfg daemonConfig, daemonID string) error {
	for _, b := range builtins {
		if err := h.Register(plugins.BuiltinSpec{Name: b.name, Kinds: b.kinds, Config: b.config(cfg, daemonID)}); err != nil {
			return err
		}
	}
	return nil
}
