package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-dev/berth/kernel/netns"
	"github.com/berth-dev/berth/kernel/stdio"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// vanishedError is the State.Error of a running container whose task the
// runtime no longer has.
const vanishedError = "container task vanished while berthd was not watching it"

// restore loads the records and reconciles them with the runtime's tasks:
// records are the truth for desired state, the runtime for what runs. Every
// correction is logged.
func (d *Daemon) restore(ctx context.Context) error {
	recs, err := d.store.ListContainers()
	if err != nil {
		return err
	}
	for _, c := range recs {
		if err := d.reg.Add(c); err != nil {
			d.log.Error("restore: duplicate record", "container", c.ID, "err", err)
		}
	}
	if err := d.reconcile(ctx); err != nil {
		return err
	}
	// Containers caught in a removal when berthd stopped finish it now, and
	// so do AutoRemove containers whose exit was recorded but not followed
	// by their removal.
	for _, c := range d.reg.List() {
		autoRemoved := c.HostConfig != nil && c.HostConfig.AutoRemove && c.HasBeenStartedBefore
		if (c.State.RemovalInProgress || autoRemoved) && !c.State.Running {
			id := c.ID
			d.queue.Go(id, func() {
				if err := d.removeLocked(context.Background(), id, true); err != nil {
					d.log.Warn("restore: finish removal", "container", id, "err", err)
				}
			})
		}
	}
	d.log.Info("restored containers", "count", len(recs))
	return nil
}

// reconcile compares every record with the runtime's task list: running
// tasks are re-attached, tasks that exited while nobody watched get their
// exit recorded, vanished tasks become exit 255, and tasks of ours without a
// record are removed. It runs at start and whenever the runtime's event
// stream was re-established.
func (d *Daemon) reconcile(ctx context.Context) error {
	tasks, err := d.rt.List(ctx)
	if err != nil {
		return fmt.Errorf("list runtime tasks: %w", err)
	}
	byID := make(map[string]runtime.Task, len(tasks))
	for _, t := range tasks {
		byID[t.ID] = t
	}
	// The corrections run on each container's queue, in order with anything
	// else for it, and reconcile returns when all are applied: at start the
	// API must not serve a state the runtime has already left.
	var wg sync.WaitGroup
	defer wg.Wait()
	queue := func(id string, fn func()) {
		wg.Add(1)
		d.queue.Go(id, func() { defer wg.Done(); fn() })
	}
	for _, c := range d.reg.List() {
		t, has := byID[c.ID]
		delete(byID, c.ID)
		id := c.ID
		switch {
		case c.State.Running && has && (t.Status == runtime.StatusRunning || t.Status == runtime.StatusPaused):
			queue(id, func() { d.reattach(ctx, id, t) })
		case c.State.Running && has:
			d.log.Info("restore: task exited while berthd was down", "container", id, "exit", t.ExitStatus)
			queue(id, func() { d.reattachExited(id, t) })
		case c.State.Running:
			d.log.Warn("restore: task vanished", "container", id)
			queue(id, func() { d.handleExit(id, 255, time.Now(), vanishedError) })
		case has:
			// A start that crashed halfway, or a task whose exit was
			// recorded but not yet deleted: the record says not running.
			d.log.Info("restore: removing task of a stopped container", "container", id, "status", t.Status)
			queue(id, func() { d.dropTask(id); d.undoInterruptedStart(id) })
		default:
			d.undoInterruptedStart(id)
		}
	}
	for id, t := range byID {
		if t.Labels[labelDaemon] != "" && t.Labels[labelDaemon] != d.id {
			continue
		}
		d.log.Warn("restore: removing task without a record", "task", id)
		d.dropTask(id)
	}
	return nil
}

// reattach takes a running task back: its stdio is reopened and drained,
// its rootfs mount re-declared for the graph driver.
func (d *Daemon) reattach(ctx context.Context, id string, t runtime.Task) {
	cur, ok := d.reg.ByID(id)
	if !ok || !cur.State.Running {
		return
	}
	d.ioMu.Lock()
	_, attached := d.io[id]
	d.ioMu.Unlock()
	if !attached {
		cio, err := d.openIO(cur, false)
		if err != nil {
			d.log.Warn("restore: reopen stdio", "container", id, "err", err)
		} else {
			cio.startCopier(d.log)
		}
	}
	if _, err := d.gd.Mount(ctx, cur.GraphID, id); err != nil {
		d.log.Warn("restore: re-declare rootfs mount", "container", id, "err", err)
	}
	if cur.State.Pid != int(t.Pid) && t.Pid != 0 {
		c := cur.Clone()
		c.State.Pid = int(t.Pid)
		_ = d.persist(c, nil)
	}
}

// reattachExited records the exit of a task that ended while nobody watched.
// Its output is still in the FIFOs: reopen them so the drain can read it.
func (d *Daemon) reattachExited(id string, t runtime.Task) {
	cur, ok := d.reg.ByID(id)
	if !ok || !cur.State.Running {
		return
	}
	if cio, err := d.openIO(cur, false); err == nil {
		cio.startCopier(d.log)
	}
	d.handleExit(id, int(t.ExitStatus), t.ExitedAt, "")
}

// undoInterruptedStart releases what a start that berthd's death cut short
// had set up. Such a start is recognised by its network namespace file,
// which a start creates first and every exit removes; checking it costs a
// stat, not a plugin call, so restore stays fast with many containers.
func (d *Daemon) undoInterruptedStart(id string) {
	cur, ok := d.reg.ByID(id)
	if !ok || cur.State.Running {
		return
	}
	ns := filepath.Join(d.netnsDir(), id)
	if _, err := os.Stat(ns); err != nil {
		return
	}
	d.log.Info("restore: undoing an interrupted start", "container", id)
	if err := netns.Remove(ns); err != nil {
		d.log.Warn("restore: remove netns", "container", id, "err", err)
	}
	if err := d.gd.Unmount(context.Background(), cur.GraphID, id); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		d.log.Warn("restore: unmount rootfs", "container", id, "err", err)
	}
}

// dropTask kills and deletes a task the records do not want running.
func (d *Daemon) dropTask(id string) {
	ctx := context.Background()
	// A shim whose task berthd was creating when it died may be blocked
	// opening the stdio FIFOs for writing, which waits for a reader: the
	// berthd that held the other ends is gone. Opening them lets the create
	// finish, so the task can be killed and deleted, shim and all.
	if c, ok := d.reg.ByID(id); ok && c.Config != nil {
		if f, err := stdio.Open(d.stdioDir(), id, c.Config.OpenStdin, c.Config.Tty); err == nil {
			defer f.Close()
		}
	}
	t, err := d.rt.State(ctx, id)
	for deadline := time.Now().Add(3 * time.Second); err == nil && t.Status == runtime.StatusUnknown && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		t, err = d.rt.State(ctx, id)
	}
	if errors.Is(err, errdefs.ErrNotFound) {
		return
	}
	if err == nil && t.Status != runtime.StatusStopped {
		_ = d.rt.Kill(ctx, id, "", 9, true)
		deadline := time.Now().Add(killWait)
		for time.Now().Before(deadline) {
			if t, err := d.rt.State(ctx, id); err != nil || t.Status == runtime.StatusStopped || t.Status == runtime.StatusCreated {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, _, err := d.rt.Delete(ctx, id); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		d.log.Warn("delete stray task", "task", id, "err", err)
	}
}

// redeclareMounts tells a restarted graph driver who holds which mount.
func (d *Daemon) redeclareMounts(ctx context.Context) error {
	var errs []error
	for _, c := range d.reg.List() {
		if c.State.Running && c.RootfsMounted {
			if _, err := d.gd.Mount(ctx, c.GraphID, c.ID); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}
