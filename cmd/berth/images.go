package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

func imagesCommand() *cli.Command {
	return &cli.Command{
		Name:                   "images",
		Usage:                  "list images",
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all images"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show image IDs"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "don't truncate output"},
			&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter output based on conditions (key=value)"},
		},
		Action: func(c *cli.Context) error {
			f, err := parseFilters(c.StringSlice("filter"))
			if err != nil {
				return err
			}
			if c.NArg() == 1 {
				f.Add("reference", c.Args().First())
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := cl.ImageList(c.Context, client.ImageListOptions{All: c.Bool("all"), Filters: f})
			if err != nil {
				return err
			}
			writeImages(ioOf(c).out, res.Items, c.Bool("quiet"), c.Bool("no-trunc"), time.Now())
			return nil
		},
	}
}

// writeImages prints images as docker images does: one row per tag
// (REPOSITORY TAG IMAGE ID CREATED SIZE), "<none>" for untagged ones.
func writeImages(out io.Writer, list []image.Summary, quiet, noTrunc bool, now time.Time) {
	id := func(s string) string {
		if noTrunc {
			return s
		}
		return shortID(s)
	}
	if quiet {
		seen := map[string]bool{}
		for _, im := range list {
			if !seen[im.ID] {
				seen[im.ID] = true
				fmt.Fprintln(out, id(im.ID))
			}
		}
		return
	}
	tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	for _, im := range list {
		tags := im.RepoTags
		if len(tags) == 0 {
			tags = []string{"<none>:<none>"}
		}
		for _, t := range tags {
			i := strings.LastIndex(t, ":")
			repo, tag := t, "<none>"
			if i > 0 && !strings.Contains(t[i:], "/") {
				repo, tag = t[:i], t[i+1:]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, tag, id(im.ID), ago(im.Created, now),
				units.HumanSizeWithPrecision(float64(im.Size), 3))
		}
	}
	_ = tw.Flush()
}

func rmiCommand() *cli.Command {
	return &cli.Command{
		Name:      "rmi",
		Usage:     "remove one or more images",
		ArgsUsage: "IMAGE [IMAGE...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "force removal of the image"},
			&cli.BoolFlag{Name: "no-prune", Usage: "do not delete untagged parents"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return fmt.Errorf("\"rmi\" requires at least 1 argument")
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			var errs []string
			for _, name := range c.Args().Slice() {
				res, err := cl.ImageRemove(c.Context, name, client.ImageRemoveOptions{Force: c.Bool("force"), PruneChildren: !c.Bool("no-prune")})
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				for _, d := range res.Items {
					if d.Untagged != "" {
						fmt.Fprintf(ioOf(c).out, "Untagged: %s\n", d.Untagged)
					}
					if d.Deleted != "" {
						fmt.Fprintf(ioOf(c).out, "Deleted: %s\n", d.Deleted)
					}
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s", strings.Join(errs, "\n"))
			}
			return nil
		},
	}
}
