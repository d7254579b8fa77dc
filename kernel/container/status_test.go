package container

import (
	"testing"
	"time"
)

func TestStatusText(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	tests := []struct {
		name   string
		state  State
		health string
		want   string
	}{
		{"created", State{}, "", "Created"},
		{"up seconds", State{Running: true, StartedAt: now.Add(-5 * time.Second)}, "", "Up 5 seconds"},
		{"up sub-second", State{Running: true, StartedAt: now.Add(-300 * time.Millisecond)}, "", "Up Less than a second"},
		{"up minutes paused", State{Running: true, Paused: true, StartedAt: now.Add(-3 * time.Minute)}, "", "Up 3 minutes (Paused)"},
		{"up healthy", State{Running: true, StartedAt: now.Add(-2 * time.Hour)}, "healthy", "Up 2 hours (healthy)"},
		{"up health starting", State{Running: true, StartedAt: now.Add(-1 * time.Second)}, "starting", "Up 1 second (health: starting)"},
		{"restarting", State{Running: true, Restarting: true, ExitCode: 1, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-10 * time.Second)}, "", "Restarting (1) 10 seconds ago"},
		{"exited", State{ExitCode: 3, StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-2 * time.Minute)}, "", "Exited (3) 2 minutes ago"},
		{"exited about a minute", State{StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-61 * time.Second)}, "", "Exited (0) About a minute ago"},
		{"exited days", State{ExitCode: 137, StartedAt: now.Add(-100 * time.Hour), FinishedAt: now.Add(-72 * time.Hour)}, "", "Exited (137) 3 days ago"},
		{"removing", State{RemovalInProgress: true, StartedAt: t0}, "", "Removal In Progress"},
		{"dead", State{Dead: true, StartedAt: t0}, "", "Dead"},
		{"started, no exit", State{StartedAt: t0}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusText(tt.state, tt.health, now); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
