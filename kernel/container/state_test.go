package container

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/sdk/errdefs"
	mobycontainer "github.com/moby/moby/api/types/container"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture builds containers in each state through the transitions themselves.
func fixture(t *testing.T, state string) *Container {
	t.Helper()
	c := &Container{ID: NewID(), Name: "/box"}
	c.settle()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("building %s: %v", state, err)
		}
	}
	switch state {
	case "created":
	case "running":
		must(c.SetRunning(42, t0))
	case "paused":
		must(c.SetRunning(42, t0))
		must(c.SetPaused())
	case "restarting":
		must(c.SetRunning(42, t0))
		must(c.SetRestarting(1, t0.Add(time.Second)))
	case "exited":
		must(c.SetRunning(42, t0))
		must(c.SetExited(3, t0.Add(time.Second), ""))
	case "removing":
		must(c.SetRemoving(false))
	case "dead":
		must(c.SetRemoving(false))
		c.SetDead("remove failed")
	default:
		t.Fatalf("unknown fixture %s", state)
	}
	if got := string(c.State.Status); got != state {
		t.Fatalf("fixture %s has status %s", state, got)
	}
	return c
}

func TestTransitions(t *testing.T) {
	ops := map[string]func(c *Container) error{
		"start":        func(c *Container) error { return c.SetRunning(7, t0.Add(time.Minute)) },
		"exit":         func(c *Container) error { return c.SetExited(0, t0.Add(time.Minute), "") },
		"pause":        func(c *Container) error { return c.SetPaused() },
		"unpause":      func(c *Container) error { return c.SetUnpaused() },
		"restarting":   func(c *Container) error { return c.SetRestarting(2, t0.Add(time.Minute)) },
		"stop":         func(c *Container) error { return c.SetStopped() },
		"remove":       func(c *Container) error { return c.SetRemoving(false) },
		"force-remove": func(c *Container) error { return c.SetRemoving(true) },
	}
	tests := []struct {
		from, op string
		want     mobycontainer.ContainerState // "" means the op must fail
		kind     error
	}{
		{"created", "start", "running", nil},
		{"created", "exit", "", ErrNotRunning},
		{"created", "pause", "", ErrNotRunning},
		{"created", "remove", "removing", nil},
		{"running", "start", "", ErrAlreadyRunning},
		{"running", "exit", "exited", nil},
		{"running", "pause", "paused", nil},
		{"running", "unpause", "", ErrNotPaused},
		{"running", "restarting", "restarting", nil},
		{"running", "remove", "", ErrAlreadyRunning},
		{"running", "force-remove", "running", nil}, // dockerd shows running until the kill lands
		{"paused", "start", "", ErrPaused},
		{"paused", "pause", "", ErrPaused},
		{"paused", "unpause", "running", nil},
		{"paused", "exit", "exited", nil},
		{"paused", "remove", "", ErrAlreadyRunning},
		{"restarting", "start", "running", nil},
		{"restarting", "pause", "", ErrNotRunning},
		{"restarting", "stop", "exited", nil},
		{"restarting", "restarting", "", ErrNotRunning},
		{"exited", "start", "running", nil},
		{"exited", "exit", "", ErrNotRunning},
		{"exited", "stop", "", ErrNotRunning},
		{"exited", "remove", "removing", nil},
		{"removing", "start", "", ErrRemovalInProgress},
		{"removing", "remove", "", ErrRemovalInProgress},
		{"removing", "force-remove", "", ErrRemovalInProgress},
		{"dead", "start", "", ErrRemovalInProgress},
		{"dead", "remove", "removing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.from+"/"+tt.op, func(t *testing.T) {
			c := fixture(t, tt.from)
			before := *c
			err := ops[tt.op](c)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("want error, got state %s", c.State.Status)
				}
				if !errors.Is(err, tt.kind) || !errors.Is(err, errdefs.ErrConflict) {
					t.Fatalf("error %q does not match %v and conflict", err, tt.kind)
				}
				if c.State != before.State {
					t.Fatalf("failed transition changed state: %+v -> %+v", before.State, c.State)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if c.State.Status != tt.want {
				t.Fatalf("status %s, want %s", c.State.Status, tt.want)
			}
		})
	}
}

func TestTransitionDetails(t *testing.T) {
	c := fixture(t, "running")
	c.SetOOMKilled()
	if err := c.SetExited(137, t0.Add(time.Second), "oom"); err != nil {
		t.Fatal(err)
	}
	if c.State.Pid != 0 || c.State.ExitCode != 137 || !c.State.OOMKilled || c.State.Running {
		t.Fatalf("exit did not record: %+v", c.State)
	}
	if err := c.SetRunning(9, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c.State.OOMKilled || c.State.ExitCode != 0 || c.State.Error != "" || c.State.Pid != 9 || !c.HasBeenStartedBefore {
		t.Fatalf("start did not reset: %+v", c.State)
	}
	if err := c.SetRestarting(1, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c.RestartCount != 1 || !c.State.Running || c.State.ExitCode != 1 {
		t.Fatalf("restarting: %+v count %d", c.State, c.RestartCount)
	}

	fresh := fixture(t, "created")
	fresh.SetStartFailed(127, "exec: \"nope\": executable file not found in $PATH")
	if fresh.State.Status != mobycontainer.StateCreated || fresh.State.ExitCode != 127 {
		t.Fatalf("failed start: %+v", fresh.State)
	}

	r := fixture(t, "running")
	err := r.SetRemoving(false)
	want := `cannot remove container "/box": container is running: stop the container before removing or force remove`
	if err == nil || err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	if err := r.SetRemoving(true); err != nil {
		t.Fatal(err)
	}
	if err := r.SetExited(137, t0.Add(time.Second), ""); err != nil {
		t.Fatal(err)
	}
	if r.State.Status != mobycontainer.StateRemoving {
		t.Fatalf("exit during removal shows %s, want removing", r.State.Status)
	}
}
