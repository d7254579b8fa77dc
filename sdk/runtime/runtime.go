// Package runtime is the berth.runtime.v1 plugin kind: it runs the processes
// of containers (containerd's tasks, in the built-in).
//
// Lifecycle of a container's task, as the kernel drives it:
//
//  1. Events is opened once, before any Start, and kept open. It delivers
//     exits (of the init process and of execs) and OOM notices. When the
//     stream breaks the kernel reopens it and then calls List, because events
//     sent during the gap are lost.
//  2. Create(id, OCI spec, stdio FIFO paths) creates the task without starting
//     it. spec.Root.Path is an absolute path (the graph driver's mount); the
//     runtime uses no snapshotter of its own. The kernel has already created
//     and opened the FIFOs. Create is idempotent: creating an id that exists
//     with the same spec is not an error.
//  3. Start starts the init process and returns its pid. Idempotent on a
//     running task.
//  4. Kill, Pause, Resume, Update, Stats, Exec, ResizePTY and CloseStdin act on
//     a created or running task.
//  5. When the init process exits the runtime sends an EventExit and keeps the
//     task, with its exit status, until Delete. A runtime never deletes a task
//     on its own: the kernel persists the exit first, then calls Delete, so no
//     exit is lost, also when the kernel was down when it happened.
//  6. Delete removes the task and its container object and returns the final
//     exit status. Delete of an unknown id is ErrNotFound.
//
// List returns every task the runtime holds for this daemon, with status,
// exit status and stdio paths; the kernel reconciles its records with it at
// start and after Unavailable errors, before retrying anything.
//
// All errors use the classes of package errdefs.
package runtime

import (
	"context"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/sdk/base"
)

// Stdio names the FIFOs (or files) a process uses. An empty path means the
// stream is not connected.
type Stdio struct {
	Stdin    string
	Stdout   string
	Stderr   string
	Terminal bool
}

// CreateRequest creates a task.
type CreateRequest struct {
	ID     string
	Spec   *specs.Spec
	Stdio  Stdio
	Labels map[string]string
}

// ExecRequest creates and starts an additional process in a running task.
type ExecRequest struct {
	ContainerID string
	ExecID      string
	Process     *specs.Process
	Stdio       Stdio
}

// Status is the state of a task or process.
type Status string

// Task states.
const (
	StatusCreated Status = "created"
	StatusRunning Status = "running"
	StatusPaused  Status = "paused"
	StatusStopped Status = "stopped"
	StatusUnknown Status = "unknown"
)

// Task is the runtime's view of one container's task.
type Task struct {
	ID         string
	Pid        uint32
	Status     Status
	ExitStatus uint32
	ExitedAt   time.Time
	Stdio      Stdio
	Labels     map[string]string
}

// EventType classifies runtime events.
type EventType string

// Runtime events.
const (
	EventExit EventType = "exit"
	EventOOM  EventType = "oom"
)

// Event is sent on the Events stream. For an exec's exit ExecID is set.
type Event struct {
	Type        EventType
	ContainerID string
	ExecID      string
	Pid         uint32
	ExitStatus  uint32
	ExitedAt    time.Time
}

// Stats is one sample of a task's resource use. Fields the runtime cannot
// measure are zero.
type Stats struct {
	Read time.Time
	// CPU times in nanoseconds.
	CPUTotal  uint64
	CPUUser   uint64
	CPUKernel uint64
	PerCPU    []uint64
	// Memory in bytes.
	MemoryUsage        uint64
	MemoryMaxUsage     uint64
	MemoryLimit        uint64
	MemoryInactiveFile uint64
	MemoryStats        map[string]uint64
	PidsCurrent        uint64
	PidsLimit          uint64
	BlkioRead          uint64
	BlkioWrite         uint64
}

// Runtime runs container processes.
type Runtime interface {
	base.Plugin

	Create(ctx context.Context, req CreateRequest) error
	Start(ctx context.Context, id string) (pid uint32, err error)
	// Kill signals the init process (execID "") or an exec; all signals every
	// process of the task.
	Kill(ctx context.Context, id, execID string, signal syscall.Signal, all bool) error
	// Events streams events until ctx is done or the stream breaks; the
	// channel is closed then and the error (if any) is sent on errc.
	Events(ctx context.Context) (events <-chan Event, errc <-chan error, err error)
	Delete(ctx context.Context, id string) (exitStatus uint32, exitedAt time.Time, err error)
	// Exec creates and starts a process in a running task and returns its pid.
	Exec(ctx context.Context, req ExecRequest) (pid uint32, err error)
	// DeleteExec releases an exec process after its exit.
	DeleteExec(ctx context.Context, id, execID string) error
	ResizePTY(ctx context.Context, id, execID string, width, height uint32) error
	CloseStdin(ctx context.Context, id, execID string) error
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
	Update(ctx context.Context, id string, resources *specs.LinuxResources) error
	Stats(ctx context.Context, id string) (*Stats, error)
	// State returns one task; ErrNotFound if the runtime has none.
	State(ctx context.Context, id string) (Task, error)
	List(ctx context.Context) ([]Task, error)
}

// Capabilities a runtime may report in base.Info.
const (
	// CapCgroupfs means cgroupsPath is a cgroupfs path such as /berth/<id>.
	CapCgroupfs = "cgroupfs"
	// CapSystemd means cgroupsPath is a systemd slice:prefix:name triple.
	CapSystemd = "systemd"
)
