package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "return low-level information on containers or images",
		ArgsUsage: "NAME|ID [NAME|ID...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "type", Usage: "only inspect objects of the given type (container or image)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return fmt.Errorf("\"inspect\" requires at least 1 argument")
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			var objects []json.RawMessage
			var missing error
			for _, name := range c.Args().Slice() {
				raw, err := inspectOne(c, cl, name, c.String("type"))
				if err != nil {
					missing = err
					continue
				}
				objects = append(objects, raw)
			}
			// Like docker: the raw server JSON, re-indented, as one array.
			if objects == nil {
				objects = []json.RawMessage{}
			}
			b, err := json.MarshalIndent(objects, "", "    ")
			if err != nil {
				return err
			}
			fmt.Fprintln(ioOf(c).out, string(b))
			return missing
		},
	}
}

// inspectOne tries a container, then an image (docker's order), skipping
// to the next kind on 404.
func inspectOne(c *cli.Context, cl *client.Client, name, kind string) (json.RawMessage, error) {
	if kind == "" || kind == "container" {
		res, err := cl.ContainerInspect(c.Context, name, client.ContainerInspectOptions{})
		if err == nil {
			return res.Raw, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return nil, err
		}
	}
	if kind == "" || kind == "image" {
		var buf bytes.Buffer
		_, err := cl.ImageInspect(c.Context, name, client.ImageInspectWithRawResponse(&buf))
		if err == nil {
			return json.RawMessage(bytes.TrimSpace(buf.Bytes())), nil
		}
		if !cerrdefs.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("No such object: %s", name) //lint:ignore ST1005 the docker CLI's wording
}
