package containerd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// vanishedExitStatus is what Delete reports for a container whose task is
// gone: the same status the kernel records for a vanished task.
const vanishedExitStatus = 255

// session is what one call needs: the client, the settings, and a context
// carrying the namespace.
type session struct {
	ctx context.Context
	c   *client.Client
	cfg config
}

// detach keeps ctx's values and deadline but not its cancellation. A call
// that creates or deletes containerd objects must not be cut in half because
// its caller went away (berthd died mid-call): containerd would be left with
// a shim whose task it no longer knows.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

func (r *Runtime) begin(ctx context.Context) (session, error) {
	c, cfg, err := r.conn(ctx)
	if err != nil {
		return session{}, err
	}
	return session{ctx: namespaces.WithNamespace(ctx, cfg.namespace), c: c, cfg: cfg}, nil
}

// owned returns the container record of id when it carries our daemon
// label. A container of another daemon is reported as not found: this
// daemon must neither see nor touch it.
func (s session) owned(r *Runtime, id string) (containers.Container, error) {
	if id == "" {
		return containers.Container{}, newError(errdefs.ErrInvalidArgument, "container id is empty")
	}
	info, err := s.c.ContainerService().Get(s.ctx, id)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return containers.Container{}, newError(errdefs.ErrNotFound, "container %s: not found", id)
		}
		return containers.Container{}, wrapf(err, "container %s", id)
	}
	mine := info.Labels[LabelDaemon] == s.cfg.daemonID
	r.setOwner(id, mine)
	if !mine {
		return containers.Container{}, newError(errdefs.ErrNotFound, "container %s: not found (it belongs to another daemon)", id)
	}
	return info, nil
}

// devNull stands in for a stream that is not connected.
const devNull = "/dev/null"

// shimStdio turns the kernel's stdio into paths the shim accepts. An empty
// path means "not connected", but the runc shim only understands that when
// every path is empty (it then gives the process /dev/null); with one stream
// connected it opens every other one by path and fails on "" (`opening file
// "" failed`). So an unconnected stdout or stderr becomes /dev/null, which the
// shim opens as a plain file and discards into. Stdin may stay empty: the
// shim skips it. With a terminal, stderr is unused and stdout is the console
// output, which the shim always opens.
func shimStdio(s runtime.Stdio) runtime.Stdio {
	if s.Terminal {
		if s.Stdout == "" {
			s.Stdout = devNull
		}
		return s
	}
	if s.Stdin == "" && s.Stdout == "" && s.Stderr == "" {
		return s
	}
	if s.Stdout == "" {
		s.Stdout = devNull
	}
	if s.Stderr == "" {
		s.Stderr = devNull
	}
	return s
}

// kernelStdio undoes shimStdio for what List reports, so that the kernel
// sees the paths it gave.
func kernelStdio(s runtime.Stdio) runtime.Stdio {
	if s.Stdout == devNull {
		s.Stdout = ""
	}
	if s.Stderr == devNull {
		s.Stderr = ""
	}
	return s
}

// fifoCreator hands containerd the kernel's stdio paths (after shimStdio).
// The kernel creates and opens the FIFOs and copies their data, so no
// copying goroutines run here, and closing this IO must not remove
// anything.
func fifoCreator(stdio runtime.Stdio) cio.Creator {
	stdio = shimStdio(stdio)
	return func(string) (cio.IO, error) {
		return cio.Load(cio.NewFIFOSet(cio.Config{
			Terminal: stdio.Terminal,
			Stdin:    stdio.Stdin,
			Stdout:   stdio.Stdout,
			Stderr:   stdio.Stderr,
		}, nil))
	}
}

// Create creates the containerd container (with the OCI spec as given and
// our labels) and its task, without starting it. An existing container and
// task of ours with the same id are accepted as they are.
func (r *Runtime) Create(ctx context.Context, req runtime.CreateRequest) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	s, err := r.begin(ctx)
	if err != nil {
		return err
	}
	if req.ID == "" {
		return newError(errdefs.ErrInvalidArgument, "create: container id is empty")
	}
	if req.Spec == nil || req.Spec.Root == nil || !filepath.IsAbs(req.Spec.Root.Path) {
		return newError(errdefs.ErrInvalidArgument, "create %s: the spec needs an absolute root.path", req.ID)
	}
	labels := maps.Clone(req.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelDaemon] = s.cfg.daemonID

	created := false
	ctr, err := s.c.LoadContainer(s.ctx, req.ID)
	switch {
	case err == nil:
		if _, err := s.owned(r, req.ID); err != nil {
			if errors.Is(err, errdefs.ErrNotFound) {
				return newError(errdefs.ErrConflict, "create %s: a container with this id exists in namespace %s and belongs to another daemon", req.ID, s.cfg.namespace)
			}
			return err
		}
	case cerrdefs.IsNotFound(err):
		ctr, err = s.c.NewContainer(s.ctx, req.ID,
			client.WithRuntime(s.cfg.shim, nil),
			client.WithContainerLabels(labels),
			client.WithSpec(req.Spec))
		if err != nil {
			return wrapf(err, "create container %s", req.ID)
		}
		created = true
		r.setOwner(req.ID, true)
	default:
		return wrapf(err, "create %s: load container", req.ID)
	}

	if _, err := s.c.TaskService().Get(s.ctx, &tasksapi.GetRequest{ContainerID: req.ID}); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(toNative(err)) {
		return wrapf(err, "create %s: get task", req.ID)
	}
	if _, err := ctr.NewTask(s.ctx, fifoCreator(req.Stdio)); err != nil {
		if cerrdefs.IsAlreadyExists(err) {
			return nil
		}
		// Unwind the half-made container so that a failed create (runc's
		// "executable file not found", say) leaves nothing behind.
		if created {
			cleanup, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
			_ = s.c.ContainerService().Delete(cleanup, req.ID)
			cancel()
			r.forgetOwner(req.ID)
		}
		return wrapf(err, "create task %s", req.ID)
	}
	return nil
}

// Start starts the init process and returns its pid; a task that already
// runs (or is paused) answers with its pid.
func (r *Runtime) Start(ctx context.Context, id string) (uint32, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	s, err := r.begin(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := s.owned(r, id); err != nil {
		return 0, err
	}
	p, err := s.process(id, "")
	if err != nil {
		return 0, err
	}
	switch p.Status {
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return p.Pid, nil
	case tasktypes.Status_STOPPED:
		return 0, newError(errdefs.ErrConflict, "start %s: task has already exited with status %d", id, p.ExitStatus)
	}
	resp, err := s.c.TaskService().Start(s.ctx, &tasksapi.StartRequest{ContainerID: id})
	if err != nil {
		// A concurrent Start may have won; that is success for both.
		if p, gerr := s.process(id, ""); gerr == nil && p.Status == tasktypes.Status_RUNNING {
			return p.Pid, nil
		}
		return 0, wrapf(err, "start %s", id)
	}
	return resp.Pid, nil
}

// process returns containerd's view of the init process (execID "") or an
// exec of task id.
func (s session) process(id, execID string) (*tasktypes.Process, error) {
	resp, err := s.c.TaskService().Get(s.ctx, &tasksapi.GetRequest{ContainerID: id, ExecID: execID})
	if err != nil {
		if execID != "" {
			return nil, wrapf(err, "task %s exec %s", id, execID)
		}
		return nil, wrapf(err, "task %s", id)
	}
	return resp.Process, nil
}

// Kill signals the init process or an exec; all signals every process of
// the task.
func (r *Runtime) Kill(ctx context.Context, id, execID string, signal syscall.Signal, all bool) error {
	s, err := r.begin(ctx)
	if err != nil {
		return err
	}
	if _, err := s.owned(r, id); err != nil {
		return err
	}
	_, err = s.c.TaskService().Kill(s.ctx, &tasksapi.KillRequest{ContainerID: id, ExecID: execID, Signal: uint32(signal), All: all})
	return wrapf(err, "kill %s%s with %d", id, execSuffix(execID), signal)
}

// Delete removes the task and its container record and returns the task's
// exit status. A running task is a conflict: the kernel kills it first. A
// container whose task has vanished reports status 255 and a zero time.
func (r *Runtime) Delete(ctx context.Context, id string) (uint32, time.Time, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	s, err := r.begin(ctx)
	if err != nil {
		return 0, time.Time{}, err
	}
	if _, err := s.owned(r, id); err != nil {
		return 0, time.Time{}, err
	}
	// runc refuses to delete a running process with an unclassified
	// error; asking first gives the kernel a proper conflict.
	if p, err := s.process(id, ""); err == nil {
		switch p.Status {
		case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
			return 0, time.Time{}, newError(errdefs.ErrConflict, "delete %s: task is %s; kill it first", id, statusOf(p.Status))
		}
	}
	status, exitedAt := uint32(vanishedExitStatus), time.Time{}
	resp, err := s.c.TaskService().Delete(s.ctx, &tasksapi.DeleteTaskRequest{ContainerID: id})
	switch {
	case err == nil:
		status, exitedAt = resp.ExitStatus, timeOf(resp.ExitedAt)
	case cerrdefs.IsNotFound(toNative(err)):
	default:
		return 0, time.Time{}, wrapf(err, "delete task %s", id)
	}
	if err := s.c.ContainerService().Delete(s.ctx, id); err != nil && !cerrdefs.IsNotFound(err) {
		return 0, time.Time{}, wrapf(err, "delete container %s", id)
	}
	r.forgetOwner(id)
	return status, exitedAt, nil
}

// Exec adds a process to a running task and starts it. A process that
// cannot start is removed again; the error keeps runc's message.
func (r *Runtime) Exec(ctx context.Context, req runtime.ExecRequest) (uint32, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	s, err := r.begin(ctx)
	if err != nil {
		return 0, err
	}
	if req.ExecID == "" || req.Process == nil {
		return 0, newError(errdefs.ErrInvalidArgument, "exec in %s: exec id and process are required", req.ContainerID)
	}
	if _, err := s.owned(r, req.ContainerID); err != nil {
		return 0, err
	}
	spec, err := typeurl.MarshalAnyToProto(req.Process)
	if err != nil {
		return 0, newError(errdefs.ErrInvalidArgument, "exec %s in %s: encode process: %v", req.ExecID, req.ContainerID, err)
	}
	stdio := shimStdio(req.Stdio)
	_, err = s.c.TaskService().Exec(s.ctx, &tasksapi.ExecProcessRequest{
		ContainerID: req.ContainerID,
		ExecID:      req.ExecID,
		Terminal:    stdio.Terminal,
		Stdin:       stdio.Stdin,
		Stdout:      stdio.Stdout,
		Stderr:      stdio.Stderr,
		Spec:        spec,
	})
	if err != nil {
		return 0, wrapf(err, "exec %s in %s", req.ExecID, req.ContainerID)
	}
	resp, err := s.c.TaskService().Start(s.ctx, &tasksapi.StartRequest{ContainerID: req.ContainerID, ExecID: req.ExecID})
	if err != nil {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		_, _ = s.c.TaskService().DeleteProcess(cleanup, &tasksapi.DeleteProcessRequest{ContainerID: req.ContainerID, ExecID: req.ExecID})
		cancel()
		return 0, wrapf(err, "start exec %s in %s", req.ExecID, req.ContainerID)
	}
	return resp.Pid, nil
}

// DeleteExec releases an exec process; containerd keeps its exit status
// until then.
func (r *Runtime) DeleteExec(ctx context.Context, id, execID string) error {
	s, err := r.begin(ctx)
	if err != nil {
		return err
	}
	if execID == "" {
		return newError(errdefs.ErrInvalidArgument, "delete exec in %s: exec id is empty", id)
	}
	if _, err := s.owned(r, id); err != nil {
		return err
	}
	_, err = s.c.TaskService().DeleteProcess(s.ctx, &tasksapi.DeleteProcessRequest{ContainerID: id, ExecID: execID})
	return wrapf(err, "delete exec %s in %s", execID, id)
}

// ResizePTY resizes the terminal of the init process or an exec.
func (r *Runtime) ResizePTY(ctx context.Context, id, execID string, width, height uint32) error {
	s, err := r.begin(ctx)
	if err != nil {
		return err
	}
	if _, err := s.owned(r, id); err != nil {
		return err
	}
	_, err = s.c.TaskService().ResizePty(s.ctx, &tasksapi.ResizePtyRequest{ContainerID: id, ExecID: execID, Width: width, Height: height})
	return wrapf(err, "resize tty of %s%s", id, execSuffix(execID))
}

// CloseStdin closes the stdin of the init process or an exec, so that the
// process reads EOF.
func (r *Runtime) CloseStdin(ctx context.Context, id, execID string) error {
	s, err := r.begin(ctx)
	if err != nil {
		return err
	}
	if _, err := s.owned(r, id); err != nil {
		return err
	}
	_, err = s.c.TaskService().CloseIO(s.ctx, &tasksapi.CloseIORequest{ContainerID: id, ExecID: execID, Stdin: true})
	return wrapf(err, "close stdin of %s%s", id, execSuffix(execID))
}

// Pause freezes every process of the task.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	s, err := r.begin(ctx)
	if err != nil {
		return err
	}
	if _, err := s.owned(r, id); err != nil {
		return err
	}
	_, err = s.c.TaskService().Pause(s.ctx, &tasksapi.PauseTaskRequest{ContainerID: id})
	return wrapf(err, "pause %s", id)
}

// Resume thaws a paused task.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	s, err := r.begin(ctx)
	if err != nil {
		return err
	}
	if _, err := s.owned(r, id); err != nil {
		return err
	}
	_, err = s.c.TaskService().Resume(s.ctx, &tasksapi.ResumeTaskRequest{ContainerID: id})
	return wrapf(err, "resume %s", id)
}

// Update changes the resource limits of a task.
func (r *Runtime) Update(ctx context.Context, id string, resources *specs.LinuxResources) error {
	s, err := r.begin(ctx)
	if err != nil {
		return err
	}
	if resources == nil {
		return newError(errdefs.ErrInvalidArgument, "update %s: no resources given", id)
	}
	if _, err := s.owned(r, id); err != nil {
		return err
	}
	anyRes, err := typeurl.MarshalAnyToProto(resources)
	if err != nil {
		return newError(errdefs.ErrInvalidArgument, "update %s: encode resources: %v", id, err)
	}
	_, err = s.c.TaskService().Update(s.ctx, &tasksapi.UpdateTaskRequest{ContainerID: id, Resources: anyRes})
	return wrapf(err, "update %s", id)
}

// State returns the task of id with its container's labels.
func (r *Runtime) State(ctx context.Context, id string) (runtime.Task, error) {
	s, err := r.begin(ctx)
	if err != nil {
		return runtime.Task{}, err
	}
	info, err := s.owned(r, id)
	if err != nil {
		return runtime.Task{}, err
	}
	p, err := s.process(id, "")
	if err != nil {
		return runtime.Task{}, err
	}
	return taskOf(id, p, info.Labels), nil
}

// List returns the tasks of every container of ours: one call for the
// containers (filtered by our label) and one for all tasks of the
// namespace. A container of ours without a task (its task vanished) is
// listed with status unknown, so that the kernel can Delete it.
func (r *Runtime) List(ctx context.Context) ([]runtime.Task, error) {
	s, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	ctrs, err := s.c.ContainerService().List(s.ctx, fmt.Sprintf("labels.%q==%s", LabelDaemon, strconv.Quote(s.cfg.daemonID)))
	if err != nil {
		return nil, wrapf(err, "list containers")
	}
	resp, err := s.c.TaskService().List(s.ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, wrapf(err, "list tasks")
	}
	procs := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		// containerd 1.6 fills only ID, which for a task is its
		// container's id; newer ones fill ContainerID too.
		id := p.ContainerID
		if id == "" {
			id = p.ID
		}
		procs[id] = p
	}
	out := make([]runtime.Task, 0, len(ctrs))
	for _, c := range ctrs {
		// The server filter is the real check; this guards against a
		// containerd that ignores it.
		if c.Labels[LabelDaemon] != s.cfg.daemonID {
			continue
		}
		r.setOwner(c.ID, true)
		p, ok := procs[c.ID]
		if !ok {
			out = append(out, runtime.Task{ID: c.ID, Status: runtime.StatusUnknown, ExitStatus: vanishedExitStatus, Labels: c.Labels})
			continue
		}
		out = append(out, taskOf(c.ID, p, c.Labels))
	}
	return out, nil
}

// taskOf converts containerd's process record.
func taskOf(id string, p *tasktypes.Process, labels map[string]string) runtime.Task {
	return runtime.Task{
		ID:         id,
		Pid:        p.Pid,
		Status:     statusOf(p.Status),
		ExitStatus: p.ExitStatus,
		ExitedAt:   timeOf(p.ExitedAt),
		Stdio:      kernelStdio(runtime.Stdio{Stdin: p.Stdin, Stdout: p.Stdout, Stderr: p.Stderr, Terminal: p.Terminal}),
		Labels:     labels,
	}
}

func statusOf(s tasktypes.Status) runtime.Status {
	switch s {
	case tasktypes.Status_CREATED:
		return runtime.StatusCreated
	case tasktypes.Status_RUNNING:
		return runtime.StatusRunning
	case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return runtime.StatusPaused
	case tasktypes.Status_STOPPED:
		return runtime.StatusStopped
	}
	return runtime.StatusUnknown
}

// timeOf converts a protobuf time; containerd sends none (or the zero
// time) for a process that has not exited.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	t := ts.AsTime()
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return t
}

func execSuffix(execID string) string {
	if execID == "" {
		return ""
	}
	return " exec " + execID
}

func (r *Runtime) setOwner(id string, mine bool) {
	r.ownersMu.Lock()
	r.owners[id] = mine
	r.ownersMu.Unlock()
}

func (r *Runtime) forgetOwner(id string) {
	r.ownersMu.Lock()
	delete(r.owners, id)
	r.ownersMu.Unlock()
}
