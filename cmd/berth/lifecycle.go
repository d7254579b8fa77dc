package main

import (
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

// errReported is returned by an op that already told the user and must
// neither print the name nor fail the command.
var errReported = errors.New("reported")

// forEach runs op on every argument, prints each argument that succeeded
// (as docker does) and joins the failures.
func forEach(c *cli.Context, op func(cl *client.Client, name string) error) error {
	if c.NArg() < 1 {
		return fmt.Errorf("%q requires at least 1 argument", c.Command.Name)
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	var errs []string
	for _, name := range c.Args().Slice() {
		if err := op(cl, name); errors.Is(err, errReported) {
			continue
		} else if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		fmt.Fprintln(ioOf(c).out, name)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start one or more stopped containers",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Action: func(c *cli.Context) error {
			return forEach(c, func(cl *client.Client, name string) error {
				_, err := cl.ContainerStart(c.Context, name, client.ContainerStartOptions{})
				return err
			})
		},
	}
}

// timeoutOpt returns -t as the API's optional timeout.
func timeoutOpt(c *cli.Context) *int {
	if !c.IsSet("time") {
		return nil
	}
	t := c.Int("time")
	return &t
}

func stopFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Usage: "seconds to wait before killing the container"},
		&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Usage: "signal to send to the container"},
	}
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:      "stop",
		Usage:     "stop one or more running containers",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags:     stopFlags(),
		Action: func(c *cli.Context) error {
			return forEach(c, func(cl *client.Client, name string) error {
				_, err := cl.ContainerStop(c.Context, name, client.ContainerStopOptions{Timeout: timeoutOpt(c), Signal: c.String("signal")})
				return err
			})
		},
	}
}

func restartCommand() *cli.Command {
	return &cli.Command{
		Name:      "restart",
		Usage:     "restart one or more containers",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags:     stopFlags(),
		Action: func(c *cli.Context) error {
			return forEach(c, func(cl *client.Client, name string) error {
				_, err := cl.ContainerRestart(c.Context, name, client.ContainerRestartOptions{Timeout: timeoutOpt(c), Signal: c.String("signal")})
				return err
			})
		},
	}
}

func killCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "kill one or more running containers",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Usage: "signal to send (default KILL)"},
		},
		Action: func(c *cli.Context) error {
			return forEach(c, func(cl *client.Client, name string) error {
				_, err := cl.ContainerKill(c.Context, name, client.ContainerKillOptions{Signal: c.String("signal")})
				return err
			})
		},
	}
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove one or more containers",
		ArgsUsage: "CONTAINER [CONTAINER...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "force the removal of a running container"},
			&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "remove anonymous volumes"},
		},
		UseShortOptionHandling: true,
		Action: func(c *cli.Context) error {
			return forEach(c, func(cl *client.Client, name string) error {
				_, err := cl.ContainerRemove(c.Context, name, client.ContainerRemoveOptions{Force: c.Bool("force"), RemoveVolumes: c.Bool("volumes")})
				// With -f a missing container is reported but is no failure (docker rm -f).
				if c.Bool("force") && cerrdefs.IsNotFound(err) {
					fmt.Fprintln(ioOf(c).err, err.Error())
					return errReported
				}
				return err
			})
		},
	}
}
