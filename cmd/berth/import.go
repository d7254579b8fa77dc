package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

func importCommand() *cli.Command {
	changes := &orderedValues{}
	return &cli.Command{
		Name:  "import",
		Usage: "import the contents from a tarball to create a filesystem image",
		Description: "FILE is a root filesystem tarball (maybe compressed) or \"-\" for standard input;\n" +
			"it is sent as the body of POST /images/create?fromSrc=-. A http(s):// URL is passed\n" +
			"to the daemon as fromSrc for it to fetch. The new image's id is printed.",
		ArgsUsage: "FILE|URL|- [REPOSITORY[:TAG]]",
		Flags: []cli.Flag{
			// Two flags on one value, not an alias: urfave/cli refuses a
			// flag given by two of its names ("-c X --change Y"), docker
			// does not, and the changes keep their command-line order.
			&cli.GenericFlag{Name: "change", Value: changes, Usage: "apply a Dockerfile instruction to the created image (repeatable; -c for short)"},
			&cli.GenericFlag{Name: "c", Value: changes, Hidden: true},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "set commit message for imported image"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return fmt.Errorf("\"import\" requires 1 or 2 arguments: FILE|URL|- [REPOSITORY[:TAG]]")
			}
			src, ref := c.Args().Get(0), c.Args().Get(1)
			source := client.ImageImportSource{SourceName: src}
			switch {
			case src == "-":
				source.Source = ioOf(c).in
			case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
				// The daemon fetches URLs itself; no body.
			default:
				f, err := os.Open(src)
				if err != nil {
					return fmt.Errorf("open %s: %w", src, err)
				}
				defer f.Close()
				source = client.ImageImportSource{SourceName: "-", Source: f}
			}
			// The docker client sends the body without a Content-Type; say
			// what it is.
			cl, err := newClient(c, client.WithHTTPHeaders(map[string]string{"Content-Type": "application/x-tar"}))
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := cl.ImageImport(c.Context, source, ref, client.ImageImportOptions{
				Message: c.String("message"),
				Changes: changes.values,
			})
			if err != nil {
				return err
			}
			defer resp.Close()
			return renderStream(c, resp)
		},
	}
}

// renderStream shows a JSON message stream (progress lines, then the final
// {"status":"sha256:..."}) as docker does: each status on its own line.
func renderStream(c *cli.Context, body io.Reader) error {
	out := ioOf(c).out
	r := newProgressRenderer(out, isTerminal(out))
	dec := json.NewDecoder(body)
	for {
		var msg jsonstream.Message
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read import progress: %w", err)
		}
		if err := r.render(msg); err != nil {
			return err
		}
	}
}

// orderedValues is a repeatable string flag value that never splits on
// commas ("CMD [\"a\",\"b\"]" is one change).
type orderedValues struct{ values []string }

func (v *orderedValues) Set(s string) error {
	v.values = append(v.values, s)
	return nil
}

func (v *orderedValues) String() string { return strings.Join(v.values, "\n") }
