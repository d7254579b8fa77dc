package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/e2e/harness"
	"github.com/berth-dev/berth/kernel/image/imagetest"
)

// env is one berthd with its managed containerd, a loopback registry holding
// the busybox test image, and what the bench created in them.
type env struct {
	d              *harness.Daemon
	reg            *imagetest.Registry
	sock           string
	containerdSock string
	image          string
	pid            int
	created        []string
}

func startEnv(ctx context.Context, bin string) (*env, error) {
	if _, err := os.Stat(filepath.Join(bin, "berthd")); err != nil {
		return nil, fmt.Errorf("build first (make build): %w", err)
	}
	d, err := harness.NewDaemon(bin)
	if err != nil {
		return nil, err
	}
	d.LogLevel = "warn"
	e := &env{d: d, sock: d.Sock, containerdSock: filepath.Join(d.ExecRoot, "containerd", "containerd.sock")}
	if err := d.Start(ctx); err != nil {
		d.Cleanup()
		return nil, err
	}
	e.pid = d.Pid()
	e.reg = imagetest.StartRegistry()
	ref, _, err := e.reg.PushBusybox(ctx, "bench/busybox:latest")
	if err != nil {
		e.close()
		return nil, err
	}
	e.image = ref
	return e, nil
}

func (e *env) client() (*client.Client, error) { return e.d.Client() }

// createMany creates n stopped containers through the Docker Go client.
func (e *env) createMany(ctx context.Context, n, workers int) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	defer c.Close()
	var mu sync.Mutex
	return pool(n, workers, func(i int) error {
		res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{Image: e.image, Cmd: []string{"true"}},
		})
		if err != nil {
			return err
		}
		mu.Lock()
		e.created = append(e.created, res.ID)
		mu.Unlock()
		return nil
	})
}

// restart stops berthd and starts it again, and measures the time from the
// new process's start until the API lists all n containers with their state.
func (e *env) restart(ctx context.Context, n int) (time.Duration, error) {
	if err := e.d.Stop(20 * time.Second); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := e.d.StartNoWait(); err != nil {
		return 0, err
	}
	c, err := e.client()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	deadline := t0.Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
		if err == nil && len(res.Items) >= n && allHaveState(res.Items) {
			d := time.Since(t0)
			e.pid = e.d.Pid()
			return d, nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("berthd did not list %d containers within 60s: %s", n, e.d.Logs())
}

func allHaveState(items []container.Summary) bool {
	for _, it := range items {
		if it.State == "" {
			return false
		}
	}
	return true
}

// close removes what the bench created and stops everything it started.
func (e *env) close() {
	if c, err := e.client(); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		_ = pool(len(e.created), 8, func(i int) error {
			_, err := c.ContainerRemove(ctx, e.created[i], client.ContainerRemoveOptions{Force: true})
			return err
		})
		cancel()
		c.Close()
	}
	if e.reg != nil {
		e.reg.Close()
	}
	e.d.Cleanup()
}

// pssTree is the summed PSS of berthd and its plugin processes.
func pssTree(pid int) (int64, []string, error) { return harness.PSS(pid) }
