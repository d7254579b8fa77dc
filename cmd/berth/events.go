package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/urfave/cli/v2"
)

func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:  "events",
		Usage: "get real time events from the server",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "since", Usage: "show all events created since timestamp"},
			&cli.StringFlag{Name: "until", Usage: "stream events until this timestamp"},
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
			res := cl.Events(c.Context, client.EventsListOptions{Since: c.String("since"), Until: c.String("until"), Filters: f})
			for {
				select {
				case m := <-res.Messages:
					writeEvent(ioOf(c).out, m)
				case err := <-res.Err:
					if err == nil || errors.Is(err, io.EOF) {
						return nil
					}
					return err
				}
			}
		},
	}
}

// writeEvent prints an event as docker events does:
// "<time RFC3339Nano> <type> <action> <actor id> (k=v, ...)".
func writeEvent(out io.Writer, m events.Message) {
	ts := time.Unix(m.Time, 0)
	if m.TimeNano != 0 {
		ts = time.Unix(0, m.TimeNano)
	}
	line := fmt.Sprintf("%s %s %s %s", ts.Format(time.RFC3339Nano), m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		var kv []string
		for k, v := range m.Actor.Attributes {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		line += " (" + strings.Join(kv, ", ") + ")"
	}
	fmt.Fprintln(out, line)
}
