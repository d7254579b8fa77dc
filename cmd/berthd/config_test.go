package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// parse runs loadConfig over args through a cli.App, as berthd's command
// line does (aliases such as -H resolve only there).
func parse(t *testing.T, args ...string) (daemonConfig, error) {
	t.Helper()
	var (
		cfg  daemonConfig
		lerr error
	)
	app := &cli.App{
		Flags: daemonFlags(),
		Action: func(c *cli.Context) error {
			cfg, lerr = loadConfig(c)
			return nil
		},
	}
	if err := app.Run(append([]string{"berthd"}, args...)); err != nil {
		t.Fatal(err)
	}
	return cfg, lerr
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/var/lib/berth" || cfg.ExecRoot != "/run/berth" || cfg.Hosts[0] != "unix:///run/berth/berth.sock" ||
		cfg.DefaultRuntime != "containerd" || cfg.StorageDriver != "overlayfs" || cfg.ContainerdNamespace != "berth" {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestConfigFileThenFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berthd.json")
	data := `{"root":"/srv/berth","hosts":["unix:///tmp/a.sock"],"insecure-registries":["10.0.0.1:5000"],"log-level":"debug"}`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(t, "--config", path, "--log-level", "warn")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/srv/berth" || cfg.Hosts[0] != "unix:///tmp/a.sock" || cfg.InsecureRegistries[0] != "10.0.0.1:5000" {
		t.Errorf("file values not taken: %+v", cfg)
	}
	if cfg.LogLevel != "warn" {
		t.Errorf("a flag must override the file: log-level %q", cfg.LogLevel)
	}
}

func TestConfigRejects(t *testing.T) {
	unknown := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(unknown, []byte(`{"rooot":"/x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-H", "tcp://127.0.0.1:2375"}, "without TLS"},
		{[]string{"-H", "tcp://127.0.0.1:2376", "--tlsverify"}, "without TLS"},
		{[]string{"-H", "ftp://x"}, "invalid --host"},
		{[]string{"--root", "relative"}, "absolute"},
		{[]string{"--log-level", "loud"}, "invalid --log-level"},
		{[]string{"--config", unknown}, "unknown field"},
	} {
		_, err := parse(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}
