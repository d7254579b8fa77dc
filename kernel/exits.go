package kernel

import (
	"context"
	"errors"
	"strconv"
	"time"

	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berth-dev/berth/kernel/container"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// watchRuntime opens the runtime's event stream (before any task is listed
// or started) and applies its events on each container's queue, in order
// with the API operations on that container.
func (d *Daemon) watchRuntime(ctx context.Context) error {
	evs, errc, err := d.rt.Events(ctx)
	if err != nil {
		return err
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		for {
			select {
			case ev, ok := <-evs:
				if !ok {
					if ctx.Err() == nil {
						d.log.Error("runtime event stream ended", "err", <-errc)
					}
					return
				}
				d.onRuntimeEvent(ctx, ev)
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

func (d *Daemon) onRuntimeEvent(ctx context.Context, ev runtime.Event) {
	switch ev.Type {
	case plugins.EventResync:
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			if err := d.reconcile(ctx); err != nil {
				d.log.Error("reconcile after runtime resync", "err", err)
			}
		}()
	case runtime.EventExit:
		if ev.ExecID != "" {
			return
		}
		d.queue.Go(ev.ContainerID, func() { d.handleExit(ev.ContainerID, int(ev.ExitStatus), ev.ExitedAt, "") })
	case runtime.EventOOM:
		d.queue.Go(ev.ContainerID, func() {
			cur, ok := d.reg.ByID(ev.ContainerID)
			if !ok || !cur.State.Running {
				return
			}
			c := cur.Clone()
			c.SetOOMKilled()
			_ = d.persist(c, d.event(c, events.ActionOOM, nil))
		})
	}
}

// handleExit records an exit (persisted with its die event before anything
// else), releases what the run held, then applies AutoRemove or the restart
// policy. It runs on the container's queue.
func (d *Daemon) handleExit(id string, code int, at time.Time, errMsg string) {
	cur, ok := d.reg.ByID(id)
	if !ok || !cur.State.Running {
		return // not ours, or already handled (restore and an event may both report it)
	}
	if at.IsZero() {
		at = time.Now()
	}
	ctx := context.Background()
	// Output ends with the container: drain what it wrote, bounded, before
	// the die event, so attach clients have it all when wait answers.
	d.closeIO(id, drainTimeout)
	c := cur.Clone()
	if err := c.SetExited(code, at.UTC(), errMsg); err != nil {
		d.log.Error("record exit", "container", id, "err", err)
		return
	}
	c.RootfsMounted = false
	dur := at.Sub(cur.State.StartedAt)
	ev := d.event(c, events.ActionDie, map[string]string{
		"exitCode":     strconv.Itoa(code),
		"execDuration": strconv.Itoa(int(dur.Seconds())),
	})
	if err := d.persist(c, ev); err != nil {
		d.log.Error("persist exit", "container", id, "err", err)
		return
	}
	// Only now may the runtime forget the task: the exit is on disk.
	if err := d.releaseResources(ctx, c); err != nil {
		d.log.Warn("release after exit", "container", id, "err", err)
	}
	if c.HostConfig != nil && c.HostConfig.AutoRemove {
		if err := d.removeLocked(ctx, id, true); err != nil {
			d.log.Error("auto-remove", "container", id, "err", err)
		}
		return
	}
	if d.shouldRestart(c) {
		n := c.Clone()
		n.RestartCount++
		_ = d.persist(n, nil)
		delay := 100 * time.Millisecond << min(n.RestartCount, 10)
		time.AfterFunc(delay, func() {
			if cur, ok := d.reg.ByID(id); !ok || cur.HasBeenManuallyStopped {
				return // stopped or removed by the user meanwhile
			}
			if err := d.start(context.Background(), id); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				d.log.Warn("restart policy: start failed", "container", id, "err", err)
			}
		})
	}
}

// shouldRestart applies the restart policy to an exit that just happened.
func (d *Daemon) shouldRestart(c *container.Container) bool {
	if c.HostConfig == nil || c.HasBeenManuallyStopped || c.State.RemovalInProgress {
		return false
	}
	p := c.HostConfig.RestartPolicy
	switch p.Name {
	case mobycontainer.RestartPolicyAlways, mobycontainer.RestartPolicyUnlessStopped:
		return true
	case mobycontainer.RestartPolicyOnFailure:
		return c.State.ExitCode != 0 && (p.MaximumRetryCount == 0 || c.RestartCount < p.MaximumRetryCount)
	}
	return false
}
