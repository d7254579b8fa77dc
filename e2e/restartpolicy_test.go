package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// TestRestartPolicy checks on-failure with a retry limit, and that a stop
// between two runs of an "always" container cancels the pending restart.
func TestRestartPolicy(t *testing.T) {
	d := shared(t)
	c := apiClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	create := func(name string, policy container.RestartPolicy, cmd ...string) string {
		t.Helper()
		cr, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name:       name,
			Config:     &container.Config{Image: busyboxRef, Cmd: cmd},
			HostConfig: &container.HostConfig{RestartPolicy: policy},
		})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		t.Cleanup(func() {
			_, _ = c.ContainerRemove(context.Background(), cr.ID, client.ContainerRemoveOptions{Force: true})
		})
		if _, err := c.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		return cr.ID
	}

	t.Run("on-failure:2", func(t *testing.T) {
		id := create("e2e-rp-onfailure", container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 2}, "sh", "-c", "exit 1")
		deadline := time.Now().Add(20 * time.Second)
		for {
			ins := inspect(t, c, id)
			if ins.RestartCount == 2 && ins.State.Status == container.StateExited {
				// Give a third restart, which must not come, time to happen.
				time.Sleep(1200 * time.Millisecond)
				if ins := inspect(t, c, id); ins.RestartCount != 2 || ins.State.ExitCode != 1 {
					t.Errorf("after the retries: RestartCount %d exit %d, want 2 and 1", ins.RestartCount, ins.State.ExitCode)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("RestartCount %d state %s, want 2 retries then exited", ins.RestartCount, ins.State.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("always, stopped between runs", func(t *testing.T) {
		id := create("e2e-rp-always", container.RestartPolicy{Name: container.RestartPolicyAlways}, "sh", "-c", "sleep 0.3")
		deadline := time.Now().Add(20 * time.Second)
		for inspect(t, c, id).RestartCount < 2 {
			if time.Now().After(deadline) {
				t.Fatal("an always container was not restarted twice within 20s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := c.ContainerStop(ctx, id, client.ContainerStopOptions{}); err != nil {
			t.Fatalf("stop: %v", err)
		}
		waitState(t, c, id, container.StateExited, 10*time.Second)
		before := inspect(t, c, id).RestartCount
		time.Sleep(3 * time.Second) // longer than the backoff after two restarts
		ins := inspect(t, c, id)
		if ins.State.Status != container.StateExited || ins.RestartCount != before {
			t.Errorf("after docker stop: state %s RestartCount %d (was %d); the policy restarted a stopped container", ins.State.Status, ins.RestartCount, before)
		}
	})
}
