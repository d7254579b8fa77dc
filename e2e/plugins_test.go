package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// TestPluginProcessesAndRestart checks that the built-in plugins run as
// child processes of berthd and that a killed runtime plugin is restarted
// (with events) without losing running containers or the ability to run.
func TestPluginProcessesAndRestart(t *testing.T) {
	d := ownDaemon(t)
	c := apiClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	rt, gd := pluginPids(d, "containerd"), pluginPids(d, "overlayfs")
	if len(rt) != 1 || len(gd) != 1 {
		var all []string
		for _, p := range childrenOf(d.Pid()) {
			all = append(all, procCmdline(p))
		}
		t.Fatalf("children of berthd (pid %d): %q; want one \"plugin serve containerd\" and one \"plugin serve overlayfs\"", d.Pid(), all)
	}

	// A running container must survive the runtime plugin's crash (the
	// shim keeps it; the restarted plugin re-syncs).
	sleeper := startDetached(t, c, busyboxRef, "sleep", "300")
	sleeperPid := inspect(t, c, sleeper).State.Pid

	since := time.Now().Add(-100 * time.Millisecond)
	if err := syscall.Kill(rt[0], syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 runtime plugin %d: %v", rt[0], err)
	}

	// The next run works, perhaps after a short wait for the restart.
	var res runResult
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err = runContainer(ctx, c, "", &container.Config{Image: busyboxRef, Cmd: []string{"echo", "ok"}}, &container.HostConfig{AutoRemove: true})
		if err == nil && res.Stdout == "ok\n" && res.ExitCode == 0 {
			break
		}
		if res.ID != "" {
			c.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true})
		}
		if time.Now().After(deadline) {
			t.Fatalf("run after killing the runtime plugin: %v (stdout %q exit %d)", err, res.Stdout, res.ExitCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("run works again %s after the kill", time.Since(since))

	newRt := pluginPids(d, "containerd")
	if len(newRt) != 1 || newRt[0] == rt[0] {
		t.Errorf("runtime plugin processes after restart %v (old %d), want one new process", newRt, rt[0])
	}
	if got := pluginPids(d, "overlayfs"); len(got) != 1 || got[0] != gd[0] {
		t.Errorf("graph driver plugin %v, want the untouched %d", got, gd[0])
	}

	ins := inspect(t, c, sleeper)
	if !ins.State.Running || ins.State.Pid != sleeperPid {
		t.Errorf("running container after the runtime plugin restart: State %+v, want running with pid %d", ins.State, sleeperPid)
	}
	// Stop goes through the new plugin and sees the exit through its
	// (re-opened) event stream.
	timeout := 1
	if _, err := c.ContainerStop(ctx, sleeper, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Errorf("stop after the runtime plugin restart: %v", err)
	} else if ins := inspect(t, c, sleeper); ins.State.Running || ins.State.ExitCode != 137 {
		t.Errorf("after stop: %+v, want exited 137", ins.State)
	}

	until := time.Now()
	evs, err := eventsBetween(ctx, c, since, until, make(client.Filters).Add("type", "plugin"))
	if err != nil {
		t.Fatalf("events type=plugin: %v", err)
	}
	var acts []string
	for _, e := range evs {
		name := e.Actor.Attributes["name"]
		if name == "" {
			name = e.Actor.ID
		}
		if string(e.Type) != "plugin" {
			t.Errorf("filter type=plugin returned a %s event", e.Type)
		}
		if strings.Contains(name, "containerd") {
			acts = append(acts, string(e.Action))
		}
		t.Logf("plugin event: %s %s %v", e.Action, e.Actor.ID, e.Actor.Attributes)
	}
	if !containsInOrder(acts, []string{"exit", "restart"}) {
		t.Errorf("plugin events for the runtime plugin %v, want exit then restart", acts)
		diagnoseEvents(t, c, since, make(client.Filters).Add("type", "plugin"))
	}
	if len(evs) > 0 {
		exit := evs[0]
		for _, e := range evs {
			if e.Action == "exit" {
				exit = e
				break
			}
		}
		if exit.Actor.Attributes["kind"] == "" {
			t.Errorf("plugin exit event lacks a kind attribute: %v", exit.Actor.Attributes)
		}
	}

	if isFile(dockerCLI) {
		out, _, code := docker(t, d, "events", "--since", unixNano(since), "--until", unixNano(until), "--filter", "type=plugin")
		if code != 0 || !strings.Contains(out, " plugin restart ") {
			t.Errorf("docker events --filter type=plugin: exit %d, want a \"plugin restart\" line in %q", code, out)
		}
	}
}
