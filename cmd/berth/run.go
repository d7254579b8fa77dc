package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

var lookupEnv = os.LookupEnv

func runCommand() *cli.Command {
	return &cli.Command{
		Name:                   "run",
		Usage:                  "create and run a new container from an image",
		ArgsUsage:              "IMAGE [COMMAND] [ARG...]",
		UseShortOptionHandling: true,
		Flags: append(containerFlags(),
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the container ID"},
			&cli.BoolFlag{Name: "sig-proxy", Value: true, Usage: "proxy received signals to the container"},
		),
		Action: func(c *cli.Context) error {
			detach := c.Bool("detach")
			spec, err := parseCreate(c, detach, lookupEnv)
			if err != nil {
				return cli.Exit("berth: "+err.Error(), 125)
			}
			cl, err := newClient(c)
			if err != nil {
				return cli.Exit("berth: "+err.Error(), 125)
			}
			defer cl.Close()
			return runContainer(c.Context, cl, spec, runOptions{detach: detach, sigProxy: c.Bool("sig-proxy")}, ioOf(c))
		},
	}
}

type runOptions struct {
	detach, sigProxy bool
}

// runContainer follows docker run's order: create (pull and retry on
// 404), then attach and wait before start so no output and no exit is
// missed, start, copy output, and exit with the container's status.
func runContainer(ctx context.Context, cl *client.Client, spec *createSpec, opts runOptions, st *streams) error {
	id, err := createContainer(ctx, cl, spec, st.err)
	if err != nil {
		return cli.Exit("berth: "+err.Error(), 125)
	}
	if opts.detach {
		if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return cli.Exit("berth: "+err.Error(), startFailureCode(err))
		}
		fmt.Fprintln(st.out, id)
		return nil
	}

	cfg := spec.config
	attach, err := cl.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream: true, Stdin: cfg.AttachStdin, Stdout: cfg.AttachStdout, Stderr: cfg.AttachStderr,
	})
	if err != nil {
		return cli.Exit("berth: "+err.Error(), 125)
	}
	defer attach.Close()

	cond := container.WaitConditionNextExit
	if spec.hostConfig.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	wait := cl.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: cond})

	restore := func() {}
	if cfg.Tty && cfg.AttachStdin {
		if f, ok := st.in.(*os.File); ok {
			restore = makeRaw(int(f.Fd()))
		}
	}
	defer restore()

	if _, err := cl.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		if spec.hostConfig.AutoRemove {
			_, _ = cl.ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true})
		}
		return cli.Exit("berth: "+err.Error(), startFailureCode(err))
	}
	if opts.sigProxy && !cfg.Tty {
		stop := proxySignals(ctx, cl, id)
		defer stop()
	}

	// Input: with -i copy stdin, then half-close; without it, half-close at
	// once so the daemon knows no input will come (it keeps sending output).
	go func() {
		if cfg.AttachStdin && st.in != nil {
			_, _ = io.Copy(attach.Conn, st.in)
		}
		_ = attach.CloseWrite()
	}()
	outDone := make(chan error, 1)
	go func() {
		var err error
		if cfg.Tty {
			_, err = io.Copy(st.out, attach.Reader)
		} else {
			_, err = stdcopy.StdCopy(st.out, st.err, attach.Reader)
		}
		outDone <- err
	}()
	if err := <-outDone; err != nil && !errors.Is(err, io.EOF) {
		return cli.Exit("berth: "+err.Error(), 125)
	}
	select {
	case res := <-wait.Result:
		if res.Error != nil && res.Error.Message != "" {
			fmt.Fprintln(st.err, "berth: "+res.Error.Message)
			if res.StatusCode == 0 {
				return cli.Exit("", 125)
			}
		}
		if res.StatusCode != 0 {
			return cli.Exit("", int(res.StatusCode))
		}
		return nil
	case err := <-wait.Error:
		return cli.Exit("berth: "+err.Error(), 125)
	}
}

// startFailureCode maps a start error to docker's exit statuses: 127 when
// the command was not found, 126 when it could not be invoked, else 125.
func startFailureCode(err error) int {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 125
}

// proxySignals forwards the signals the CLI receives to the container, as
// docker run --sig-proxy does; errors are ignored like docker's.
func proxySignals(ctx context.Context, cl *client.Client, id string) (stop func()) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				name := strings.TrimPrefix(unix.SignalName(s.(syscall.Signal)), "SIG")
				_, _ = cl.ContainerKill(context.WithoutCancel(ctx), id, client.ContainerKillOptions{Signal: name})
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// makeRaw puts the terminal fd in raw mode for -it and returns the undo.
func makeRaw(fd int) (restore func()) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
