package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/e2e/harness"
)

// TestLiveRestore stops berthd while containers run and starts it again:
// a running container is re-attached (same pid, still stoppable), one that
// exited while berthd was down is listed with its exit code, and an
// AutoRemove one that exited meanwhile is removed.
func TestLiveRestore(t *testing.T) {
	d := ownDaemon(t)
	c := apiClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	sleeper := startDetached(t, c, busyboxRef, "sleep", "300")
	exiter := startDetached(t, c, busyboxRef, "sh", "-c", "sleep 2; exit 7")
	cr, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: busyboxRef, Cmd: []string{"sh", "-c", "sleep 2; exit 0"}},
		HostConfig: &container.HostConfig{AutoRemove: true},
	})
	if err != nil {
		t.Fatalf("create autoremove: %v", err)
	}
	if _, err := c.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start autoremove: %v", err)
	}
	autoRemoved := cr.ID
	vanishing := startDetached(t, c, busyboxRef, "sleep", "300")
	pid := inspect(t, c, sleeper).State.Pid
	if pid == 0 {
		t.Fatalf("running container has no pid")
	}

	stopped := time.Now()
	if err := d.Stop(20 * time.Second); err != nil {
		t.Fatalf("stop berthd: %v", err)
	}
	t.Logf("berthd stopped in %s", time.Since(stopped))
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("container process %d died with berthd: %v (live restore)", pid, err)
	}
	// A task removed behind berthd's back while it is down (containerd
	// lost it, an operator deleted it) must come back as exit 255.
	sock := containerdSock(d)
	for _, args := range [][]string{{"tasks", "kill", "-s", "KILL", vanishing}, {"tasks", "rm", "-f", vanishing}, {"containers", "rm", vanishing}} {
		if _, errOut, code := run(20*time.Second, nil, "ctr", append([]string{"-a", sock, "-n", "berth"}, args...)...); code != 0 {
			t.Fatalf("ctr %v: exit %d: %s", args, code, errOut)
		}
	}
	// The shim keeps the exit status of the containers exiting now.
	time.Sleep(3 * time.Second)

	sctx, scancel := context.WithTimeout(ctx, 60*time.Second)
	defer scancel()
	started := time.Now()
	if err := d.Start(sctx); err != nil {
		t.Fatalf("restart berthd: %v", err)
	}
	t.Logf("berthd answered %s after restart", time.Since(started))
	c = apiClient(t, d)

	ins := inspect(t, c, sleeper)
	if !ins.State.Running || ins.State.Status != container.StateRunning || ins.State.Pid != pid {
		t.Errorf("after restart the running container is %+v, want running with pid %d", ins.State, pid)
	}
	list, err := c.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].ID != sleeper || !strings.HasPrefix(list.Items[0].Status, "Up") {
		t.Errorf("running containers after restart %+v, want exactly the sleeper, \"Up ...\"", list.Items)
	}

	ins = inspect(t, c, exiter)
	if ins.State.Status != container.StateExited || ins.State.ExitCode != 7 || ins.State.Running {
		t.Errorf("container that exited while berthd was down: %+v, want exited with 7", ins.State)
	}
	if fin, err := time.Parse(time.RFC3339Nano, ins.State.FinishedAt); err != nil || fin.Before(stopped) {
		t.Errorf("FinishedAt %q (%v), want a time after berthd stopped (%s)", ins.State.FinishedAt, err, stopped.Format(time.RFC3339Nano))
	}

	ins = inspect(t, c, vanishing)
	if ins.State.Status != container.StateExited || ins.State.ExitCode != 255 || ins.State.Error == "" {
		t.Errorf("container whose task vanished: %+v, want exited 255 with State.Error set", ins.State)
	}
	if _, err := c.ContainerRemove(ctx, vanishing, client.ContainerRemoveOptions{}); err != nil {
		t.Errorf("remove the vanished container: %v", err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.ContainerInspect(ctx, autoRemoved, client.ContainerInspectOptions{})
		if isNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("AutoRemove container that exited while berthd was down still exists (%v)", err)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	timeout := 1
	t0 := time.Now()
	if _, err := c.ContainerStop(ctx, sleeper, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatalf("stop the restored container: %v", err)
	}
	ins = inspect(t, c, sleeper)
	if ins.State.Running || ins.State.ExitCode != 137 {
		t.Errorf("restored container after stop: %+v, want exited 137", ins.State)
	}
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("stop of the restored container took %s (exit event not seen after restore?)", took)
	}
}

// TestKillDuringParallelRuns kills berthd with SIGKILL while 8 clients run
// containers, then checks that every container the API acknowledged is
// still known (or was removed through AutoRemove, with its destroy event)
// and that containerd holds nothing of Berth's without a record.
func TestKillDuringParallelRuns(t *testing.T) {
	d := ownDaemon(t)
	var c *client.Client
	since := time.Now().Add(-time.Second)

	var (
		mu    sync.Mutex
		acked = map[string]bool{} // id → AutoRemove
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			wc, err := d.Client()
			if err != nil {
				return
			}
			defer wc.Close()
			for i := 0; ctx.Err() == nil; i++ {
				auto := (w+i)%2 == 0
				cr, err := wc.ContainerCreate(ctx, client.ContainerCreateOptions{
					Config:     &container.Config{Image: busyboxRef, Cmd: []string{"sh", "-c", "sleep 0.2"}},
					HostConfig: &container.HostConfig{AutoRemove: auto},
				})
				if err != nil {
					return
				}
				mu.Lock()
				acked[cr.ID] = auto
				mu.Unlock()
				cond := container.WaitConditionNextExit
				if auto {
					cond = container.WaitConditionRemoved
				}
				wait := wc.ContainerWait(ctx, cr.ID, client.ContainerWaitOptions{Condition: cond})
				if _, err := wc.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
					return
				}
				select {
				case <-wait.Result:
				case <-wait.Error:
					return
				}
			}
		}(w)
	}
	// Kill once a fair number of runs are under way.
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 16 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Kill(); err != nil {
		t.Fatalf("kill -9 berthd: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cancel()
		<-done
		t.Errorf("clients did not notice berthd's death within 15s")
	}
	mu.Lock()
	ids := make(map[string]bool, len(acked))
	for k, v := range acked {
		ids[k] = v
	}
	mu.Unlock()
	t.Logf("%d creates acknowledged before the kill", len(ids))
	if len(ids) == 0 {
		t.Fatalf("no create was acknowledged within 15s; berthd log:\n%s", logTail(d))
	}

	sctx, scancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer scancel()
	if err := d.Start(sctx); err != nil {
		t.Fatalf("restart berthd after kill -9: %v", err)
	}
	c = apiClient(t, d)

	// Every acknowledged container is listed, or was removed by AutoRemove
	// (which leaves a destroy event in the persisted log).
	var lost []string
	deadline = time.Now().Add(15 * time.Second)
	for {
		lost = lost[:0]
		listed, err := listIDs(sctx, c)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		destroyed := map[string]bool{}
		evs, err := eventsBetween(sctx, c, since, time.Now(), make(client.Filters).Add("type", "container").Add("event", "destroy"))
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		for _, e := range evs {
			destroyed[e.Actor.ID] = true
		}
		for _, id := range sortedKeys(ids) {
			if _, ok := listed[id]; ok {
				continue
			}
			if ids[id] && destroyed[id] {
				continue
			}
			why := "not listed"
			if !ids[id] {
				why += ", and it had no AutoRemove"
			} else {
				why += ", and no destroy event"
			}
			lost = append(lost, id[:12]+" ("+why+")")
		}
		if len(lost) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(lost) > 0 {
		t.Errorf("acknowledged containers lost after kill -9 and restart: %v", lost)
	}

	// No containerd container or task of Berth's without a record.
	var orphans []string
	deadline = time.Now().Add(15 * time.Second)
	for {
		orphans = orphans[:0]
		listed, err := listIDs(sctx, c)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, what := range []string{"containers", "tasks"} {
			cids, err := ctrIDs(d, what)
			if err != nil {
				t.Fatalf("%v", err)
			}
			for _, id := range cids {
				if _, ok := listed[id]; !ok {
					orphans = append(orphans, what+":"+id)
				}
			}
		}
		if len(orphans) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(orphans) > 0 {
		t.Errorf("containerd objects without a berth record after restore: %v", orphans)
	}
	// Nor a shim serving no task (it would outlive everything).
	deadline = time.Now().Add(10 * time.Second)
	for {
		tasks, err := ctrIDs(d, "tasks")
		if err != nil {
			t.Fatalf("%v", err)
		}
		shims := strays(d, tasks)
		if len(shims) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("shims without a containerd task 10s after restore (ctr tasks: %v): %v", tasks, shims)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Everything listed settles into a final state (the short runs exit).
	deadline = time.Now().Add(15 * time.Second)
	for {
		listed, err := listIDs(sctx, c)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		var busy []string
		for id, s := range listed {
			if s.State != container.StateExited && s.State != container.StateCreated {
				busy = append(busy, fmt.Sprintf("%s:%s", id[:12], s.State))
			}
		}
		if len(busy) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("containers not settled 15s after restore (they run sleep 0.2): %v", busy)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSecondDaemonSameRoot starts a second berthd on the shared daemon's
// root: it must exit non-zero, saying the root is locked, and disturb
// nothing of the first (socket, plugins, containers).
func TestSecondDaemonSameRoot(t *testing.T) {
	d := shared(t)
	c := apiClient(t, d)
	rtBefore, gdBefore := pluginPids(d, "containerd"), pluginPids(d, "overlayfs")
	var sockIno uint64
	if st, err := os.Stat(d.Sock); err == nil {
		sockIno = st.Sys().(*syscall.Stat_t).Ino
	}

	// Exactly the first daemon's flags (berthd started twice), then the same
	// root with its own exec-root and socket.
	other := t.TempDir()
	otherExec := filepath.Join(other, "run")
	for _, args := range [][]string{
		{"--root", d.Root, "--exec-root", d.ExecRoot, "-H", d.Host()},
		{"--root", d.Root, "--exec-root", otherExec, "-H", "unix://" + filepath.Join(other, "b.sock")},
	} {
		out, errOut, code := run(30*time.Second, nil, filepath.Join(binDir, "berthd"), args...)
		all := out + errOut
		t.Logf("second berthd %q → exit %d: %s", args, code, all)
		if code == 0 || code == -1 {
			t.Errorf("second berthd on the same root: exit %d, want a non-zero exit (-1 = still running after 30s)", code)
		}
		low := strings.ToLower(all)
		if !strings.Contains(low, "lock") && !strings.Contains(low, "already running") {
			t.Errorf("second berthd's message %q does not say the root is locked by another berthd", all)
		}
	}
	if pids := processesMentioning(otherExec); len(pids) > 0 {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		t.Errorf("the refused berthd left processes using its exec-root: %v", pids)
	}

	if st, err := os.Stat(d.Sock); err != nil || st.Sys().(*syscall.Stat_t).Ino != sockIno {
		t.Errorf("the first berthd's socket was removed or replaced (%v)", err)
	}
	if rt, gd := pluginPids(d, "containerd"), pluginPids(d, "overlayfs"); !equalInts(rt, rtBefore) || !equalInts(gd, gdBefore) {
		t.Errorf("the first berthd's plugins changed: runtime %v→%v, graph driver %v→%v", rtBefore, rt, gdBefore, gd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := runContainer(ctx, c, "", &container.Config{Image: busyboxRef, Cmd: []string{"echo", "still here"}}, &container.HostConfig{AutoRemove: true})
	if err != nil || res.Stdout != "still here\n" {
		t.Errorf("first berthd after the refused second one: %v, stdout %q", err, res.Stdout)
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		t.Logf("berthd log:\n%s", logTail(d))
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// strays lists the shim processes of d's managed containerd whose -id is
// not among tasks.
func strays(d *harness.Daemon, tasks []string) []string {
	known := map[string]bool{}
	for _, id := range tasks {
		known[id] = true
	}
	var out []string
	for _, p := range processesMentioning(containerdSock(d)) {
		f := strings.Fields(procCmdline(p))
		if len(f) == 0 || !strings.Contains(f[0], "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "-id" && !known[f[i+1]] {
				out = append(out, fmt.Sprintf("pid %d id %s", p, f[i+1]))
			}
		}
	}
	return out
}
