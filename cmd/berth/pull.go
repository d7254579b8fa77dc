package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

func pullCommand() *cli.Command {
	return &cli.Command{
		Name:      "pull",
		Usage:     "download an image from a registry",
		ArgsUsage: "NAME[:TAG|@DIGEST]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "suppress verbose output"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("\"pull\" requires exactly 1 argument: NAME[:TAG|@DIGEST]")
			}
			ref, err := reference.ParseNormalizedNamed(c.Args().First())
			if err != nil {
				return fmt.Errorf("invalid reference format: %w", err)
			}
			st := ioOf(c)
			if reference.IsNameOnly(ref) {
				fmt.Fprintln(st.out, "Using default tag: latest")
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			out := st.out
			if c.Bool("quiet") {
				out = io.Discard
			}
			if err := pullImage(c.Context, cl, c.Args().First(), out); err != nil {
				return err
			}
			fmt.Fprintln(st.out, reference.TagNameOnly(ref).String())
			return nil
		},
	}
}

// pullImage pulls ref and renders the daemon's progress stream on out.
func pullImage(ctx context.Context, cl *client.Client, ref string, out io.Writer) error {
	resp, err := cl.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	r := newProgressRenderer(out, isTerminal(out))
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return err
		}
		if err := r.render(msg); err != nil {
			return err
		}
	}
	return nil
}

// progressRenderer draws a pull's JSON messages: on a terminal one line per
// layer, redrawn in place with a progress bar; otherwise plain lines, one
// per status change, so logs stay readable.
type progressRenderer struct {
	out   io.Writer
	tty   bool
	lines []string       // ids of the lines drawn so far ("" = not a layer line)
	index map[string]int // layer id → line
	last  map[string]string
}

func newProgressRenderer(out io.Writer, tty bool) *progressRenderer {
	return &progressRenderer{out: out, tty: tty, index: map[string]int{}, last: map[string]string{}}
}

// render shows one message; an error message ends the pull with its text.
func (p *progressRenderer) render(m jsonstream.Message) error {
	if m.Error != nil {
		return fmt.Errorf("%s", m.Error.Message)
	}
	if m.Aux != nil || (m.Status == "" && m.Stream == "") {
		return nil
	}
	if m.Stream != "" {
		p.newLine("", strings.TrimSuffix(m.Stream, "\n"))
		return nil
	}
	if m.ID == "" {
		p.newLine("", m.Status)
		return nil
	}
	if !p.tty {
		if p.last[m.ID] != m.Status {
			p.last[m.ID] = m.Status
			fmt.Fprintf(p.out, "%s: %s\n", m.ID, m.Status)
		}
		return nil
	}
	text := fmt.Sprintf("%s: %s", m.ID, m.Status)
	if bar := progressBar(m.Progress); bar != "" {
		text += " " + bar
	}
	i, ok := p.index[m.ID]
	if !ok {
		p.newLine(m.ID, text)
		return nil
	}
	// Move up to the layer's line, rewrite it, come back down.
	up := len(p.lines) - i
	fmt.Fprintf(p.out, "\x1b[%dA\r\x1b[2K%s\r\x1b[%dB", up, text, up)
	return nil
}

// newLine prints a new line and remembers which layer owns it.
func (p *progressRenderer) newLine(id, text string) {
	if id != "" {
		p.index[id] = len(p.lines)
	}
	p.lines = append(p.lines, id)
	fmt.Fprintln(p.out, text)
}

// progressBar renders "[=====>     ]  1.2MB/3.4MB" (docker's look); "" when
// there is nothing to show.
func progressBar(pr *jsonstream.Progress) string {
	if pr == nil || pr.Current <= 0 {
		return ""
	}
	const width = 50
	current := units.HumanSize(float64(pr.Current))
	if pr.Total <= 0 {
		return current
	}
	filled := int(float64(width) * float64(pr.Current) / float64(pr.Total))
	filled = min(max(filled, 0), width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("[%s] %8s/%s", bar, current, units.HumanSize(float64(pr.Total)))
}
