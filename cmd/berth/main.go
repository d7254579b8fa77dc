// Command berth is Berth's command-line client. It talks to berthd (or any
// Docker-compatible daemon) over the Docker Engine API with the Docker Go
// client library, and follows the docker CLI's call order.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

// defaultHost is berthd's socket.
const defaultHost = "unix:///run/berth/berth.sock"

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	os.Exit(runMain(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// runMain runs the CLI with the given streams and returns the exit status:
// a container's exit code for run/wait-like commands, 1 for other errors,
// 125 when run itself failed (as docker does).
func runMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	var exit cli.ExitCoder
	if errors.As(err, &exit) {
		if msg := exit.Error(); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		return exit.ExitCode()
	}
	if msg := err.Error(); strings.HasPrefix(msg, "Error") {
		fmt.Fprintln(stderr, msg)
	} else {
		fmt.Fprintf(stderr, "Error: %s\n", msg)
	}
	return 1
}

// streams are the CLI's standard streams, kept on the app so tests can
// replace them.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	st := &streams{in: stdin, out: stdout, err: stderr}
	return &cli.App{
		Name:                 "berth",
		Usage:                "manage containers on a Berth (or Docker) engine",
		Version:              version,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		// docker never splits repeated flags on commas (-e A=a,b, -c "CMD [\"a\",\"b\"]").
		DisableSliceFlagSeparator: true,
		// Errors are printed by runMain, which also picks the exit status.
		ExitErrHandler: func(*cli.Context, error) {},
		Metadata:       map[string]any{"streams": st},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "host", Aliases: []string{"H"}, EnvVars: []string{"BERTH_HOST"},
				Value: defaultHost, Usage: "daemon socket to connect to (unix:// or tcp://)"},
		},
		Commands: []*cli.Command{
			runCommand(), createCommand(), startCommand(), stopCommand(), restartCommand(),
			killCommand(), rmCommand(), psCommand(), pullCommand(), imagesCommand(), rmiCommand(),
			inspectCommand(), eventsCommand(), versionCommand(), infoCommand(), importCommand(),
			pluginCommand(),
		},
	}
}

// ioOf returns the app's streams.
func ioOf(c *cli.Context) *streams {
	return c.App.Metadata["streams"].(*streams)
}

// newClient connects to the daemon named by -H/BERTH_HOST, negotiating the
// API version on first use as the docker CLI does. extra options (custom
// headers) apply after the defaults.
func newClient(c *cli.Context, extra ...client.Opt) (*client.Client, error) {
	opts := append([]client.Opt{client.WithHost(c.String("host")), client.WithUserAgent("berth/" + version)}, extra...)
	cl, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.String("host"), err)
	}
	return cl, nil
}
