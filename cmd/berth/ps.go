package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

func psCommand() *cli.Command {
	return &cli.Command{
		Name:                   "ps",
		Usage:                  "list containers",
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers (default shows just running)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display container IDs"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "don't truncate output"},
			&cli.IntFlag{Name: "last", Aliases: []string{"n"}, Value: -1, Usage: "show n last created containers"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter output based on conditions (key=value)"},
		},
		Action: func(c *cli.Context) error {
			f, err := parseFilters(c.StringSlice("filter"))
			if err != nil {
				return err
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := cl.ContainerList(c.Context, client.ContainerListOptions{All: c.Bool("all"), Limit: c.Int("last"), Filters: f})
			if err != nil {
				return err
			}
			writePS(ioOf(c).out, res.Items, c.Bool("quiet"), c.Bool("no-trunc"), time.Now())
			return nil
		},
	}
}

// writePS prints containers as docker ps does: a table with
// CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES, or ids only.
func writePS(out io.Writer, list []container.Summary, quiet, noTrunc bool, now time.Time) {
	id := func(s string) string {
		if noTrunc {
			return s
		}
		return shortID(s)
	}
	if quiet {
		for _, ctr := range list {
			fmt.Fprintln(out, id(ctr.ID))
		}
		return
	}
	tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
	for _, ctr := range list {
		command := ctr.Command
		if !noTrunc {
			command = ellipsis(command, 20)
		}
		fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%s\t%s\n", id(ctr.ID), ctr.Image, command,
			ago(ctr.Created, now), ctr.Status, formatPorts(ctr.Ports), formatNames(ctr.Names, noTrunc))
	}
	_ = tw.Flush()
}

// formatNames strips the leading "/" and, unless noTrunc, hides legacy
// link names (which contain another "/"), as docker ps does.
func formatNames(names []string, noTrunc bool) string {
	var out []string
	for _, n := range names {
		n = strings.TrimPrefix(n, "/")
		if !noTrunc && strings.Contains(n, "/") {
			continue
		}
		out = append(out, n)
	}
	return strings.Join(out, ",")
}

// formatPorts renders "0.0.0.0:8080->80/tcp, 443/tcp".
func formatPorts(ports []container.PortSummary) string {
	var out []string
	for _, p := range ports {
		switch {
		case p.PublicPort != 0 && p.IP.IsValid():
			out = append(out, fmt.Sprintf("%s:%d->%d/%s", p.IP, p.PublicPort, p.PrivatePort, p.Type))
		case p.PublicPort != 0:
			out = append(out, fmt.Sprintf("%d->%d/%s", p.PublicPort, p.PrivatePort, p.Type))
		default:
			out = append(out, fmt.Sprintf("%d/%s", p.PrivatePort, p.Type))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
