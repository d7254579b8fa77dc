package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// pluginTestPackage is the import path of the conformance suites; the kind
// is the last element.
const pluginTestPackage = "github.com/berth-dev/berth/plugin-tests/"

// pluginKinds are the kinds plugin-tests has a suite for.
var pluginKinds = []string{"runtime", "graphdriver"}

func pluginCommand() *cli.Command {
	return &cli.Command{
		Name:  "plugin",
		Usage: "work with Berth plugins",
		Subcommands: []*cli.Command{
			{
				Name:      "test",
				Usage:     "run the conformance suite against a plugin binary",
				ArgsUsage: "PATH",
				Description: "Runs the plugin-tests/<kind> suite (its TestBinary test) against the plugin at PATH:\n\n" +
					"   BERTH_PLUGIN_TEST_BINARY=PATH BERTH_PLUGIN_TEST_CONFIG=JSON \\\n" +
					"      go test -count=1 -v -run TestBinary " + pluginTestPackage + "<kind>\n\n" +
					"The suites are Go tests, so this needs the go tool on PATH and a Go module that\n" +
					"contains or requires github.com/berth-dev/berth: the current directory's module,\n" +
					"or the one at --module DIR. The test output streams through; the exit status is\n" +
					"go test's, and 1 when the suite tested nothing (the plugin does not serve the kind,\n" +
					"or the suite needs root and skipped).\n" +
					"--config is the plugin's Configure settings as a JSON object of strings; \"$ROOT\"\n" +
					"in a value becomes a fresh temporary directory per test case.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "kind", Value: "runtime", Usage: "plugin kind to test: " + strings.Join(pluginKinds, " or ")},
					&cli.StringFlag{Name: "config", Usage: `Configure settings as JSON, e.g. '{"home":"$ROOT"}'`},
					&cli.StringFlag{Name: "module", Usage: "directory of the Go module to run the suite from (default: current directory)"},
					&cli.StringFlag{Name: "run", Usage: "only run suite cases matching this regexp (go test -run TestBinary/REGEXP)"},
				},
				Action: pluginTestAction,
			},
		},
	}
}

// pluginTestAction validates the arguments, then runs go test and returns
// its exit status.
func pluginTestAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("\"plugin test\" requires exactly 1 argument: PATH")
	}
	kind := c.String("kind")
	if !slices.Contains(pluginKinds, kind) {
		return fmt.Errorf("invalid --kind %q: must be one of %s", kind, strings.Join(pluginKinds, ", "))
	}
	if cfg := c.String("config"); cfg != "" {
		var m map[string]string
		if err := json.Unmarshal([]byte(cfg), &m); err != nil {
			return fmt.Errorf("invalid --config: want a JSON object of strings: %w", err)
		}
	}
	// The suite runs in the package's directory: the path must be absolute.
	path, err := filepath.Abs(c.Args().First())
	if err != nil {
		return fmt.Errorf("plugin path: %w", err)
	}
	if fi, err := os.Stat(path); err != nil {
		return fmt.Errorf("plugin binary: %w", err)
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("plugin binary %s is not an executable file", path)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("berth plugin test runs the Go conformance suites with `go test`, but the go tool is not installed (or not on PATH): %w", err)
	}
	dir := c.String("module")
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return err
		}
	}
	if err := checkModule(goBin, dir); err != nil {
		return err
	}

	st := ioOf(c)
	run := "^TestBinary$"
	if r := c.String("run"); r != "" {
		run += "/" + r
	}
	cmd := exec.CommandContext(c.Context, goBin, "test", "-count=1", "-v", "-run", run, pluginTestPackage+kind)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BERTH_PLUGIN_TEST_BINARY="+path, "BERTH_PLUGIN_TEST_CONFIG="+c.String("config"))
	skip := &skipWatcher{}
	cmd.Stdout = io.MultiWriter(st.out, skip)
	cmd.Stderr = st.err
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return cli.Exit("", exit.ExitCode())
	case err != nil:
		return fmt.Errorf("run go test: %w", err)
	case skip.skipped():
		return cli.Exit(fmt.Sprintf("nothing was tested: the %s suite skipped (see above: does %s serve the %s kind? is root needed?)", kind, path, kind), 1)
	}
	return nil
}

// checkModule fails with a helpful message when dir is not inside a Go
// module, where `go test <package>` cannot resolve the suites.
func checkModule(goBin, dir string) error {
	cmd := exec.Command(goBin, "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD in %s: %w", dir, err)
	}
	if gomod := strings.TrimSpace(string(out)); gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("%s is not in a Go module: run from the berth source tree (or a module requiring github.com/berth-dev/berth), or pass --module DIR", dir)
	}
	return nil
}

// skipWatcher sees go test -v output go by and notes whether the suite
// tested nothing: TestBinary or its cases skipped (the plugin does not serve
// the kind, or the suite needs root) and no case passed or failed.
type skipWatcher struct {
	mu                  sync.Mutex
	buf                 []byte
	skips, passes, fail int
}

func (w *skipWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimLeft(string(w.buf[:i]), " \t")
		w.buf = w.buf[i+1:]
		switch {
		case strings.HasPrefix(line, "--- SKIP: TestBinary"):
			w.skips++
		case strings.HasPrefix(line, "--- PASS: TestBinary/"):
			w.passes++
		case strings.HasPrefix(line, "--- FAIL: TestBinary"):
			w.fail++
		}
	}
	return len(p), nil
}

// skipped reports whether something skipped and nothing ran to a result.
func (w *skipWatcher) skipped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.skips > 0 && w.passes == 0 && w.fail == 0
}
