package kernel

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/kernel/api"
	"github.com/berth-dev/berth/kernel/container"
	"github.com/berth-dev/berth/kernel/netns"
	"github.com/berth-dev/berth/kernel/spec"
	"github.com/berth-dev/berth/kernel/stdio"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// labelDaemon marks every runtime object with the daemon that owns it.
const labelDaemon = "berth.daemon"

// killWait is how long a SIGKILL may take to show as an exit.
const killWait = 10 * time.Second

// drainTimeout bounds the read of what a container wrote just before it
// exited: output ends with the container, after a bounded drain.
const drainTimeout = 2 * time.Second

func classed(class error, format string, args ...any) error {
	return &classedError{msg: fmt.Sprintf(format, args...), class: class}
}

// classedError carries dockerd's wording and an error class, without the
// class's text in the message.
type classedError struct {
	msg   string
	class error
}

func (e *classedError) Error() string { return e.msg }
func (e *classedError) Unwrap() error { return e.class }

// persist writes c with its event in one transaction, then makes it the
// registry's snapshot (releasing waiters) and publishes the event.
func (d *Daemon) persist(c *container.Container, ev *events.Message) error {
	if err := d.store.PutContainer(c, ev); err != nil {
		return err
	}
	if err := d.reg.Update(c); err != nil {
		return err
	}
	if ev != nil {
		d.bus.Publish(*ev)
	}
	return nil
}

func (d *Daemon) event(c *container.Container, action events.Action, extra map[string]string) *events.Message {
	ev := c.Event(action, extra)
	return &ev
}

// create records a new container in state created, with its writable layer.
func (d *Daemon) create(ctx context.Context, name string, cfg *mobycontainer.Config, hc *mobycontainer.HostConfig, nc *network.NetworkingConfig) (string, []string, error) {
	if cfg == nil {
		cfg = &mobycontainer.Config{}
	}
	if hc == nil {
		hc = &mobycontainer.HostConfig{}
	}
	if cfg.Image == "" {
		return "", nil, classed(errdefs.ErrInvalidArgument, "config cannot be empty in order to create a container")
	}
	if name != "" {
		if err := container.ValidateName(name); err != nil {
			return "", nil, err
		}
	}
	hc, warnings, err := normalizeHostConfig(hc)
	if err != nil {
		return "", nil, err
	}
	img, err := d.images.Get(cfg.Image)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return "", nil, classed(errdefs.ErrNotFound, "No such image: %s", cfg.Image)
		}
		// Only a missing image may be a 404 here: the docker CLI pulls on any.
		return "", nil, demote404(err)
	}
	imgCfg := imageConfig(img)
	merged := spec.MergeConfig(imgCfg, *cfg)
	args := spec.Args(merged.Entrypoint, merged.Cmd)
	if len(args) == 0 {
		return "", nil, classed(errdefs.ErrInvalidArgument, "no command specified")
	}
	if _, err := parseStopSignal(merged.StopSignal); err != nil {
		return "", nil, err
	}
	c := &container.Container{
		ID:         container.NewID(),
		Created:    time.Now().UTC(),
		Path:       args[0],
		Args:       args[1:],
		Config:     &merged,
		HostConfig: hc,
		Image:      img.ID,
		ImageName:  cfg.Image,
		Platform:   "linux",
		Runtime:    d.cfg.Runtime,
		Driver:     d.cfg.GraphDriver,
	}
	c.State.Status = mobycontainer.StateCreated
	c.GraphID = c.ID
	c.NetworkSettings = &mobycontainer.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}
	if name != "" {
		c.Name = container.CanonicalName(name)
		if err := d.reg.Add(c); err != nil {
			return "", nil, err
		}
	} else {
		for attempt := 0; ; attempt++ {
			c.Name = container.CanonicalName(container.RandomName(attempt))
			if err := d.reg.Add(c); err == nil {
				break
			} else if attempt > 20 {
				return "", nil, err
			}
		}
	}
	undo := func() { d.reg.Remove(c.ID) }
	if err := d.gd.Create(ctx, c.GraphID, img.TopLayer, true); err != nil {
		undo()
		return "", nil, fmt.Errorf("create container layer: %w", demote404(err))
	}
	if err := d.persist(c, d.event(c, events.ActionCreate, nil)); err != nil {
		undo()
		_ = d.gd.Remove(context.WithoutCancel(ctx), c.GraphID)
		return "", nil, err
	}
	return c.ID, warnings, nil
}

// demote404 turns a not-found error into a plain one, for the create path
// where a 404 would make the docker CLI pull the image.
func demote404(err error) error {
	if errors.Is(err, errdefs.ErrNotFound) {
		return errors.New(err.Error())
	}
	return err
}

// normalizeHostConfig applies the defaults and the limits of this release.
// Until networking lands, "default" and "bridge" mean a private network
// namespace with loopback only, recorded truthfully as "none".
func normalizeHostConfig(hc *mobycontainer.HostConfig) (*mobycontainer.HostConfig, []string, error) {
	n := *hc
	var warnings []string
	switch mode := string(n.NetworkMode); mode {
	case "", "default", "bridge":
		if mode == "bridge" {
			warnings = append(warnings, "bridge networking is not available yet: the container gets loopback only")
		}
		n.NetworkMode = "none"
	case "none", "host":
	default:
		return nil, nil, classed(errdefs.ErrInvalidArgument, "network %s is not supported: use none or host", mode)
	}
	if n.LogConfig.Type == "" {
		n.LogConfig.Type = "none"
	}
	switch n.RestartPolicy.Name {
	case "", mobycontainer.RestartPolicyDisabled:
		n.RestartPolicy.Name = mobycontainer.RestartPolicyDisabled
	case mobycontainer.RestartPolicyAlways, mobycontainer.RestartPolicyUnlessStopped, mobycontainer.RestartPolicyOnFailure:
		if n.AutoRemove {
			return nil, nil, classed(errdefs.ErrInvalidArgument, "can't create 'AutoRemove' container with restart policy")
		}
	default:
		return nil, nil, classed(errdefs.ErrInvalidArgument, "invalid restart policy '%s'", n.RestartPolicy.Name)
	}
	if len(n.Binds) > 0 || len(n.Mounts) > 0 {
		return nil, nil, classed(errdefs.ErrInvalidArgument, "volumes and bind mounts are not supported yet")
	}
	if len(n.PortBindings) > 0 {
		warnings = append(warnings, "published ports need networking, which is not available yet: ignored")
	}
	return &n, warnings, nil
}

// start runs a created or exited container. It runs on the container's
// queue. Whatever it set up is undone, in reverse order, when a later step
// fails, and the runtime's own message is returned.
func (d *Daemon) start(ctx context.Context, ref string) error {
	c0, err := d.reg.Get(ref)
	if err != nil {
		return err
	}
	err = d.queue.Do(ctx, c0.ID, func() error { return d.startLocked(ctx, c0.ID) })
	if err != nil && !errors.Is(err, api.ErrNotModified) && c0.HostConfig != nil && c0.HostConfig.AutoRemove {
		// dockerd removes an AutoRemove container whose start failed; the
		// docker CLI waits for that removal before it exits.
		rctx := context.WithoutCancel(ctx)
		_ = d.queue.Do(rctx, c0.ID, func() error { return d.removeLocked(rctx, c0.ID, true) })
	}
	return err
}

func (d *Daemon) startLocked(ctx context.Context, id string) (err error) {
	cur, ok := d.reg.ByID(id)
	if !ok {
		return classed(errdefs.ErrNotFound, "No such container: %s", id)
	}
	if err := cur.CheckStart(); err != nil {
		if errors.Is(err, container.ErrAlreadyRunning) {
			return api.ErrNotModified
		}
		return err
	}
	c := cur.Clone()
	// Work is done with a context the client cannot cancel halfway.
	ctx = context.WithoutCancel(ctx)
	var undo []func()
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		// The failure is part of the record: exit code and runc's message.
		if cur, ok := d.reg.ByID(id); ok && !cur.State.Running {
			n := cur.Clone()
			n.SetStartFailed(exitCodeFor(err), err.Error())
			_ = d.persist(n, nil)
		}
	}()

	rootfs, err := d.gd.Mount(ctx, c.GraphID, c.ID)
	if err != nil {
		return fmt.Errorf("mount rootfs: %w", demote404(err))
	}
	undo = append(undo, func() { _ = d.gd.Unmount(ctx, c.GraphID, c.ID) })

	nsPath := ""
	if c.HostConfig.NetworkMode != "host" {
		nsPath = filepath.Join(d.netnsDir(), c.ID)
		_ = netns.Remove(nsPath) // a leftover of a crashed start
		if err := netns.Create(nsPath); err != nil {
			return err
		}
		undo = append(undo, func() { _ = netns.Remove(nsPath) })
	}

	cio, err := d.openIO(c, true)
	if err != nil {
		return err
	}
	undo = append(undo, func() { d.closeIO(c.ID, 0); _ = stdio.Remove(d.stdioDir(), c.ID) })

	img, err := d.images.Get(c.Image)
	var imgCfg spec.ImageConfig
	if err == nil {
		imgCfg = imageConfig(img)
	}
	sp, err := spec.Build(spec.Input{
		ID:         c.ID,
		Image:      imgCfg,
		Config:     c.Config,
		HostConfig: c.HostConfig,
		Rootfs:     rootfs,
		NetnsPath:  nsPath,
	})
	if err != nil {
		return err
	}
	if err := d.rt.Create(ctx, runtime.CreateRequest{
		ID:     c.ID,
		Spec:   sp,
		Stdio:  cio.fifos.Stdio(),
		Labels: map[string]string{labelDaemon: d.id},
	}); err != nil {
		return startError(err)
	}
	undo = append(undo, func() { _, _, _ = d.rt.Delete(ctx, c.ID) })
	// Attach clients that came before start get every byte of output.
	cio.startCopier(d.log)
	pid, err := d.rt.Start(ctx, c.ID)
	if err != nil {
		return startError(err)
	}
	c.RootfsPath = rootfs
	c.RootfsMounted = true
	c.NetNSPath = nsPath
	c.Stdio = container.StdioPaths(cio.paths())
	c.HasBeenStartedBefore = true
	c.HasBeenManuallyStopped = false
	if err := c.SetRunning(int(pid), time.Now().UTC()); err != nil {
		return err
	}
	if err := d.persist(c, d.event(c, events.ActionStart, nil)); err != nil {
		// The task runs but is not recorded: kill it rather than leave an
		// object without a record.
		_ = d.rt.Kill(ctx, c.ID, "", syscall.SIGKILL, true)
		return err
	}
	return nil
}

// startError keeps the runtime's message, classed as dockerd does: a
// missing or non-executable command is the request's fault (400), so the
// docker CLI maps it to exit 127 or 126.
func startError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "permission denied"), strings.Contains(msg, "not a directory"):
		return classed(errdefs.ErrInvalidArgument, "failed to create task for container: %s", msg)
	}
	if errors.Is(err, errdefs.ErrNotFound) {
		return errors.New(msg)
	}
	return fmt.Errorf("failed to start container: %w", err)
}

func exitCodeFor(err error) int {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 128
}

// pause freezes (pause=true) or thaws a running container's processes.
func (d *Daemon) pause(ctx context.Context, ref string, pause bool) error {
	c0, err := d.reg.Get(ref)
	if err != nil {
		return err
	}
	return d.queue.Do(ctx, c0.ID, func() error {
		cur, ok := d.reg.ByID(c0.ID)
		if !ok {
			return classed(errdefs.ErrNotFound, "No such container: %s", ref)
		}
		c := cur.Clone()
		ctx := context.WithoutCancel(ctx)
		action := events.ActionPause
		if pause {
			if err := c.SetPaused(); err != nil {
				return err
			}
			if err := d.rt.Pause(ctx, c.ID); err != nil {
				return fmt.Errorf("cannot pause container %s: %w", ref, err)
			}
		} else {
			action = events.ActionUnPause
			if err := c.SetUnpaused(); err != nil {
				return err
			}
			if err := d.rt.Resume(ctx, c.ID); err != nil {
				return fmt.Errorf("cannot unpause container %s: %w", ref, err)
			}
		}
		return d.persist(c, d.event(c, action, nil))
	})
}

// thawForSignal resumes a paused container after a signal was sent to it,
// so the signal is delivered (a frozen process cannot act on it), as dockerd
// does for stop, kill and rm -f.
func (d *Daemon) thawForSignal(ctx context.Context, id string) {
	cur, ok := d.reg.ByID(id)
	if !ok || !cur.State.Paused {
		return
	}
	if err := d.rt.Resume(ctx, id); err != nil {
		d.log.Warn("resume paused container after signal", "container", id, "err", err)
		return
	}
	_ = d.queue.Do(ctx, id, func() error {
		cur, ok := d.reg.ByID(id)
		if !ok || !cur.State.Paused {
			return nil
		}
		c := cur.Clone()
		if err := c.SetUnpaused(); err != nil {
			return nil
		}
		return d.persist(c, d.event(c, events.ActionUnPause, nil))
	})
}

// kill sends a signal to a running container.
func (d *Daemon) kill(ctx context.Context, ref string, sig syscall.Signal) error {
	c, err := d.reg.Get(ref)
	if err != nil {
		return err
	}
	if !c.State.Running {
		return classed(errdefs.ErrConflict, "cannot kill container: %s: container %s is not running", ref, c.ID)
	}
	if err := d.rt.Kill(ctx, c.ID, "", sig, sig == syscall.SIGKILL); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return classed(errdefs.ErrConflict, "cannot kill container: %s: container %s is not running", ref, c.ID)
		}
		return fmt.Errorf("cannot kill container: %s: %w", ref, err)
	}
	d.record(c.Event(events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))}))
	d.thawForSignal(context.WithoutCancel(ctx), c.ID)
	return nil
}

// record persists and publishes an event that goes with no state change.
func (d *Daemon) record(ev events.Message) {
	if err := d.store.AppendEvent(&ev); err != nil {
		d.log.Warn("persist event", "type", ev.Type, "action", ev.Action, "err", err)
		return
	}
	d.bus.Publish(ev)
}

// stop sends the stop signal, waits up to timeout, then kills and waits for
// the exit: PID 1 ignores a TERM it has no handler for.
func (d *Daemon) stop(ctx context.Context, ref string, timeout *int, sig syscall.Signal) error {
	c, err := d.reg.Get(ref)
	if err != nil {
		return err
	}
	if !c.State.Running {
		// Between two runs of a restart policy: the stop cancels the
		// pending restart.
		_ = d.markManuallyStopped(ctx, c.ID)
		return api.ErrNotModified
	}
	if sig == 0 {
		sig, _ = parseStopSignal(c.Config.StopSignal)
	}
	secs := 10
	if c.Config.StopTimeout != nil {
		secs = *c.Config.StopTimeout
	}
	if timeout != nil {
		secs = *timeout
	}
	// Mark the stop as the user's, for the restart policy.
	_ = d.markManuallyStopped(ctx, c.ID)
	exited, cancel, err := d.reg.Wait(c.ID, mobycontainer.WaitConditionNotRunning)
	if err != nil {
		return err
	}
	defer cancel()
	if err := d.rt.Kill(ctx, c.ID, "", sig, false); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("cannot stop container: %s: %w", ref, err)
	}
	d.record(c.Event(events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))}))
	d.thawForSignal(context.WithoutCancel(ctx), c.ID)
	var grace <-chan time.Time
	if secs >= 0 {
		t := time.NewTimer(time.Duration(secs) * time.Second)
		defer t.Stop()
		grace = t.C
	}
	select {
	case <-exited:
		return d.recordStop(c)
	case <-grace:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := d.rt.Kill(ctx, c.ID, "", syscall.SIGKILL, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("cannot kill container: %s: %w", ref, err)
	}
	d.record(c.Event(events.ActionKill, map[string]string{"signal": strconv.Itoa(int(syscall.SIGKILL))}))
	select {
	case <-exited:
		return d.recordStop(c)
	case <-time.After(killWait):
		return fmt.Errorf("container %s did not exit within %s of SIGKILL", ref, killWait)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// markManuallyStopped records that the user stopped the container, so the
// restart policy leaves it stopped.
func (d *Daemon) markManuallyStopped(ctx context.Context, id string) error {
	return d.queue.Do(ctx, id, func() error {
		cur, ok := d.reg.ByID(id)
		if !ok || cur.HasBeenManuallyStopped {
			return nil
		}
		n := cur.Clone()
		n.HasBeenManuallyStopped = true
		return d.persist(n, nil)
	})
}

func (d *Daemon) recordStop(c *container.Container) error {
	d.record(c.Event(events.ActionStop, nil))
	return nil
}

// remove deletes a container and everything it holds. With force a running
// container is killed first.
func (d *Daemon) remove(ctx context.Context, ref string, force bool) error {
	c, err := d.reg.Get(ref)
	if err != nil {
		return err
	}
	if c.State.Running {
		if !force {
			return c.Clone().SetRemoving(false)
		}
		exited, cancel, err := d.reg.Wait(c.ID, mobycontainer.WaitConditionNotRunning)
		if err != nil {
			return err
		}
		if err := d.rt.Kill(ctx, c.ID, "", syscall.SIGKILL, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			cancel()
			return fmt.Errorf("could not kill container %s: %w", ref, err)
		}
		d.thawForSignal(context.WithoutCancel(ctx), c.ID)
		select {
		case <-exited:
		case <-time.After(killWait):
			cancel()
			return fmt.Errorf("could not remove container %s: it did not exit after SIGKILL", ref)
		}
		cancel()
	}
	return d.queue.Do(ctx, c.ID, func() error { return d.removeLocked(context.WithoutCancel(ctx), c.ID, force) })
}

func (d *Daemon) removeLocked(ctx context.Context, id string, force bool) error {
	cur, ok := d.reg.ByID(id)
	if !ok {
		return nil // removed meanwhile (AutoRemove)
	}
	c := cur.Clone()
	if err := c.SetRemoving(force); err != nil {
		return err
	}
	if err := d.persist(c, nil); err != nil {
		return err
	}
	// Removal also ends attach requests still waiting for a start.
	d.closeIO(c.ID, drainTimeout)
	if err := d.releaseResources(ctx, c); err != nil {
		d.log.Warn("remove: releasing resources", "container", c.ID, "err", err)
	}
	if err := d.gd.Remove(ctx, c.GraphID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		n := c.Clone()
		n.ClearRemoving()
		n.SetDead(fmt.Sprintf("removal failed: %v", err))
		_ = d.persist(n, nil)
		return fmt.Errorf("unable to remove filesystem for %s: %w", id, err)
	}
	_ = stdio.Remove(d.stdioDir(), c.ID)
	ev := c.Event(events.ActionDestroy, nil)
	if err := d.store.DeleteContainer(c.ID, &ev); err != nil {
		return err
	}
	d.reg.Remove(c.ID)
	d.bus.Publish(ev)
	return nil
}

// releaseResources undoes what a start set up, for a container that is no
// longer running: the runtime's task, the network namespace and the rootfs
// mount. Every step tolerates having been done before. Stdio is not its
// business: once the exit is recorded, an attach for the next start may
// already be waiting on the container's stdio.
func (d *Daemon) releaseResources(ctx context.Context, c *container.Container) error {
	var errs []error
	if _, _, err := d.rt.Delete(ctx, c.ID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		errs = append(errs, fmt.Errorf("delete task: %w", err))
	}
	// The path is derived, not read from the record: a start cut short
	// made the namespace before it recorded it.
	if err := netns.Remove(filepath.Join(d.netnsDir(), c.ID)); err != nil {
		errs = append(errs, err)
	}
	if err := d.gd.Unmount(ctx, c.GraphID, c.ID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		errs = append(errs, fmt.Errorf("unmount rootfs: %w", err))
	}
	return errors.Join(errs...)
}

// parseStopSignal parses a signal as the API and images give it: "TERM",
// "SIGTERM" or "15". Empty means SIGTERM.
func parseStopSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGTERM, nil
	}
	sig, err := api.ParseSignal(s)
	if err != nil {
		return 0, classed(errdefs.ErrInvalidArgument, "invalid signal: %s", s)
	}
	return sig, nil
}
