package container

import (
	"fmt"
	"time"

	units "github.com/docker/go-units"
)

// StatusText is the human status of `docker ps` ("Up 5 seconds",
// "Exited (3) 2 minutes ago", "Created", "Up 3 minutes (Paused)"), computed
// for the instant now. health is the health status word ("starting",
// "healthy", "unhealthy") or empty when the container has no health check.
func StatusText(s State, health string, now time.Time) string {
	if s.Running {
		switch {
		case s.Paused:
			return fmt.Sprintf("Up %s (Paused)", units.HumanDuration(now.Sub(s.StartedAt)))
		case s.Restarting:
			return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, units.HumanDuration(now.Sub(s.FinishedAt)))
		case health == "starting":
			return fmt.Sprintf("Up %s (health: starting)", units.HumanDuration(now.Sub(s.StartedAt)))
		case health != "" && health != "none":
			return fmt.Sprintf("Up %s (%s)", units.HumanDuration(now.Sub(s.StartedAt)), health)
		}
		return fmt.Sprintf("Up %s", units.HumanDuration(now.Sub(s.StartedAt)))
	}
	switch {
	case s.RemovalInProgress:
		return "Removal In Progress"
	case s.Dead:
		return "Dead"
	case s.StartedAt.IsZero():
		return "Created"
	case s.FinishedAt.IsZero():
		// Started but no exit recorded: only seen in records restored from a
		// crash before the exit was written.
		return ""
	}
	return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, units.HumanDuration(now.Sub(s.FinishedAt)))
}
