package container

import (
	"errors"
	"fmt"
	"time"

	"github.com/berth-dev/berth/sdk/errdefs"
	mobycontainer "github.com/moby/moby/api/types/container"
)

// State is a container's run state. The boolean flags are the truth, as in
// dockerd; Status is derived from them by every transition (see StatusOf) and
// stored so that a reader of the record need not recompute it.
type State struct {
	Status     mobycontainer.ContainerState
	Running    bool
	Paused     bool
	Restarting bool
	OOMKilled  bool
	// RemovalInProgress is set while a removal runs; it blocks starts and a
	// second removal, and shows as "removing" once the container stopped.
	RemovalInProgress bool
	Dead              bool
	Pid               int
	ExitCode          int
	Error             string
	StartedAt         time.Time
	FinishedAt        time.Time
}

// Sentinel errors of the state machine. Every error a transition returns
// matches one of these and also errdefs.ErrConflict, so the API maps it to
// 409 — except that the lead may answer 304 for ErrAlreadyRunning on start
// and ErrNotRunning on stop, as dockerd does.
var (
	ErrAlreadyRunning    = errors.New("container already running")
	ErrNotRunning        = errors.New("container not running")
	ErrPaused            = errors.New("container paused")
	ErrNotPaused         = errors.New("container not paused")
	ErrRemovalInProgress = errors.New("container removal in progress")
	ErrDead              = errors.New("container dead")
)

// classError carries a Docker-worded message (shown verbatim by the CLI) and
// the classes errors.Is should find, without adding their text to the message.
type classError struct {
	msg     string
	classes []error
}

func (e *classError) Error() string   { return e.msg }
func (e *classError) Unwrap() []error { return e.classes }

func conflict(kind error, format string, args ...any) error {
	return &classError{msg: fmt.Sprintf(format, args...), classes: []error{kind, errdefs.ErrConflict}}
}

// StatusOf derives Docker's state word from the flags, with dockerd's
// precedence: a running container is paused, restarting or running even while
// its removal is in progress.
func StatusOf(s State) mobycontainer.ContainerState {
	switch {
	case s.Running && s.Paused:
		return mobycontainer.StatePaused
	case s.Running && s.Restarting:
		return mobycontainer.StateRestarting
	case s.Running:
		return mobycontainer.StateRunning
	case s.RemovalInProgress:
		return mobycontainer.StateRemoving
	case s.Dead:
		return mobycontainer.StateDead
	case s.StartedAt.IsZero():
		return mobycontainer.StateCreated
	default:
		return mobycontainer.StateExited
	}
}

// IsRunning reports whether the container has a live process (running,
// paused or restarting count, as in dockerd).
func (c *Container) IsRunning() bool { return c.State.Running }

func (c *Container) settle() { c.State.Status = StatusOf(c.State) }

// CheckStart returns the error dockerd gives when the container cannot be
// started now, or nil. ErrAlreadyRunning means "nothing to do" (304).
func (c *Container) CheckStart() error {
	s := &c.State
	switch {
	case s.Paused:
		return conflict(ErrPaused, "cannot start a paused container, try unpause instead")
	case s.RemovalInProgress || s.Dead:
		return conflict(ErrRemovalInProgress, "container is marked for removal and cannot be started")
	case s.Running && !s.Restarting:
		return conflict(ErrAlreadyRunning, "container %s is already running", c.ShortName())
	}
	return nil
}

// SetRunning records a started init process. A restarting container may be
// started again; a running, paused, dead or removing one may not.
func (c *Container) SetRunning(pid int, startedAt time.Time) error {
	if err := c.CheckStart(); err != nil {
		return err
	}
	s := &c.State
	s.Running, s.Paused, s.Restarting, s.OOMKilled, s.Dead = true, false, false, false, false
	s.Pid = pid
	s.ExitCode = 0
	s.Error = ""
	s.StartedAt = startedAt.UTC()
	c.HasBeenStartedBefore = true
	c.HasBeenManuallyStopped = false
	c.settle()
	return nil
}

// SetStartFailed records a start that never produced a running process; the
// container keeps its previous state word (created or exited) but shows the
// exit code dockerd assigns (127 not found, 126 not executable, 128 other)
// and the runtime's message.
func (c *Container) SetStartFailed(exitCode int, errMsg string) {
	c.State.ExitCode = exitCode
	c.State.Error = errMsg
	c.settle()
}

// SetExited records the exit of the init process. It is an error (ErrNotRunning)
// when the container has no process, which lets the lead drop a duplicate
// exit event seen again after a restore. A removal in progress is kept.
func (c *Container) SetExited(exitCode int, finishedAt time.Time, errMsg string) error {
	s := &c.State
	if !s.Running {
		return conflict(ErrNotRunning, "container %s is not running", c.ShortName())
	}
	s.Running, s.Paused, s.Restarting = false, false, false
	s.Pid = 0
	s.ExitCode = exitCode
	s.Error = errMsg
	s.FinishedAt = finishedAt.UTC()
	c.settle()
	return nil
}

// SetOOMKilled marks that the kernel OOM killer hit the container; it stays
// set until the next start.
func (c *Container) SetOOMKilled() {
	c.State.OOMKilled = true
	c.settle()
}

// SetRestarting records an exit after which the restart policy will start the
// container again: it stays Running (as in dockerd) with Restarting set, and
// RestartCount grows.
func (c *Container) SetRestarting(exitCode int, finishedAt time.Time) error {
	s := &c.State
	if !s.Running || s.Restarting {
		return conflict(ErrNotRunning, "container %s is not running", c.ShortName())
	}
	if s.RemovalInProgress {
		return conflict(ErrRemovalInProgress, "container %s is marked for removal", c.ShortName())
	}
	s.Paused = false
	s.Restarting = true
	s.Pid = 0
	s.ExitCode = exitCode
	s.FinishedAt = finishedAt.UTC()
	c.RestartCount++
	c.settle()
	return nil
}

// SetStopped ends a restart loop (for example `docker stop` during the
// back-off): the container becomes exited with its last exit code.
func (c *Container) SetStopped() error {
	s := &c.State
	if !s.Restarting {
		return conflict(ErrNotRunning, "container %s is not restarting", c.ShortName())
	}
	s.Running, s.Restarting, s.Pid = false, false, 0
	c.settle()
	return nil
}

// SetPaused records a successful pause.
func (c *Container) SetPaused() error {
	s := &c.State
	switch {
	case !s.Running:
		return conflict(ErrNotRunning, "container %s is not running", c.ShortName())
	case s.Paused:
		return conflict(ErrPaused, "container %s is already paused", c.ShortName())
	case s.Restarting:
		return conflict(ErrNotRunning, "container %s is restarting, wait until the container is running", c.ShortName())
	}
	s.Paused = true
	c.settle()
	return nil
}

// SetUnpaused records a successful resume.
func (c *Container) SetUnpaused() error {
	s := &c.State
	if !s.Running || !s.Paused {
		return conflict(ErrNotPaused, "container %s is not paused", c.ShortName())
	}
	s.Paused = false
	c.settle()
	return nil
}

// CheckPause returns the error a pause of c would give, without changing it.
func (c *Container) CheckPause() error { return c.Clone().SetPaused() }

// SetRemoving marks a removal in progress. Without force a running, paused or
// restarting container is refused with dockerd's message; a second removal is
// refused in any case.
func (c *Container) SetRemoving(force bool) error {
	s := &c.State
	if s.RemovalInProgress {
		return conflict(ErrRemovalInProgress, "removal of container %s is already in progress", c.ShortName())
	}
	if !force && s.Running {
		state := StatusOf(*s)
		return conflict(ErrAlreadyRunning, "cannot remove container %q: container is %s: stop the container before removing or force remove", c.Name, state)
	}
	s.RemovalInProgress = true
	c.settle()
	return nil
}

// ClearRemoving undoes SetRemoving after a removal step failed before anything
// was destroyed.
func (c *Container) ClearRemoving() {
	c.State.RemovalInProgress = false
	c.settle()
}

// SetDead records a removal that failed after it had destroyed part of the
// container: it can no longer start, only be removed again.
func (c *Container) SetDead(errMsg string) {
	s := &c.State
	s.RemovalInProgress = false
	s.Dead = true
	if errMsg != "" {
		s.Error = errMsg
	}
	c.settle()
}
