package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

// containerFlags are the flags run and create share.
func containerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "assign a name to the container"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set environment variables (KEY=VALUE, or KEY to copy it)"},
		&cli.StringFlag{Name: "entrypoint", Usage: "overwrite the default ENTRYPOINT of the image"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "username or UID (format: <name|uid>[:<group|gid>])"},
		&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set metadata on a container (KEY=VALUE)"},
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep STDIN open"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
		&cli.BoolFlag{Name: "rm", Usage: "automatically remove the container when it exits"},
	}
}

// createSpec is what create (and run) send.
type createSpec struct {
	name       string
	config     *container.Config
	hostConfig *container.HostConfig
	netConfig  *network.NetworkingConfig
}

// parseCreate turns the flags and arguments (IMAGE [COMMAND [ARG...]]) into
// a create request shaped like the docker CLI's. lookupEnv resolves "-e KEY".
func parseCreate(c *cli.Context, detach bool, lookupEnv func(string) (string, bool)) (*createSpec, error) {
	if c.NArg() < 1 {
		return nil, fmt.Errorf("%q requires at least 1 argument: IMAGE [COMMAND] [ARG...]", c.Command.Name)
	}
	args := c.Args().Slice()
	cfg := &container.Config{
		Image:      args[0],
		WorkingDir: c.String("workdir"),
		User:       c.String("user"),
		Tty:        c.Bool("tty"),
		OpenStdin:  c.Bool("interactive"),
		Labels:     map[string]string{},
	}
	if len(args) > 1 {
		cfg.Cmd = args[1:]
	}
	if c.IsSet("entrypoint") {
		// An empty --entrypoint resets the image's entrypoint, as docker's does.
		cfg.Entrypoint = []string{c.String("entrypoint")}
		if c.String("entrypoint") == "" {
			cfg.Entrypoint = []string{""}
		}
	}
	for _, e := range c.StringSlice("env") {
		if !strings.Contains(e, "=") {
			v, ok := lookupEnv(e)
			if !ok {
				continue
			}
			e += "=" + v
		}
		cfg.Env = append(cfg.Env, e)
	}
	for _, l := range c.StringSlice("label") {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid label %q: empty key", l)
		}
		cfg.Labels[k] = v
	}
	if !detach {
		cfg.AttachStdout, cfg.AttachStderr = true, true
		if cfg.OpenStdin {
			cfg.AttachStdin, cfg.StdinOnce = true, true
		}
	}
	return &createSpec{
		name:   c.String("name"),
		config: cfg,
		hostConfig: &container.HostConfig{
			AutoRemove:  c.Bool("rm"),
			NetworkMode: "default",
		},
		netConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{"default": {}}},
	}, nil
}

// createContainer creates the container and, when the daemon says the
// image is missing (404), pulls it and tries once more, as docker does.
func createContainer(ctx context.Context, cl *client.Client, spec *createSpec, stderr io.Writer) (string, error) {
	opts := client.ContainerCreateOptions{Name: spec.name, Config: spec.config, HostConfig: spec.hostConfig, NetworkingConfig: spec.netConfig}
	res, err := cl.ContainerCreate(ctx, opts)
	if cerrdefs.IsNotFound(err) {
		ref, perr := reference.ParseNormalizedNamed(spec.config.Image)
		if perr != nil {
			return "", fmt.Errorf("invalid reference format: %w", perr)
		}
		fmt.Fprintf(stderr, "Unable to find image '%s' locally\n", reference.FamiliarString(reference.TagNameOnly(ref)))
		if err := pullImage(ctx, cl, spec.config.Image, stderr); err != nil {
			return "", err
		}
		res, err = cl.ContainerCreate(ctx, opts)
	}
	if err != nil {
		return "", err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "WARNING: %s\n", w)
	}
	return res.ID, nil
}

func createCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a new container",
		ArgsUsage: "IMAGE [COMMAND] [ARG...]",
		Flags:     containerFlags(),
		// Flags stop at the image, so the command's own flags pass through.
		Action: func(c *cli.Context) error {
			spec, err := parseCreate(c, true, lookupEnv)
			if err != nil {
				return err
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			id, err := createContainer(c.Context, cl, spec, ioOf(c).err)
			if err != nil {
				return err
			}
			fmt.Fprintln(ioOf(c).out, id)
			return nil
		},
	}
}
