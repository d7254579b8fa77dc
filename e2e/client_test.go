package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// TestClientPullAndRun pulls from the loopback registry and runs
// containers the way `docker run` does, through the Docker Go client.
func TestClientPullAndRun(t *testing.T) {
	d := shared(t)
	c := apiClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	ref := pushBusyboxAs(t, "clientpull/busybox:v1")
	resp, err := c.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	var statuses []string
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			t.Fatalf("pull stream: %v", err)
		}
		if m.Error != nil {
			t.Fatalf("pull %s: in-band error %q", ref, m.Error.Message)
		}
		statuses = append(statuses, m.Status)
	}
	joined := strings.Join(statuses, "\n")
	if !strings.Contains(joined, "Digest: sha256:") || !strings.Contains(joined, "Status: ") {
		t.Errorf("pull progress lacks the Digest/Status lines dockerd sends:\n%s", joined)
	}
	ii, err := c.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("image inspect %s: %v", ref, err)
	}
	if !strings.HasPrefix(ii.ID, "sha256:") {
		t.Errorf("image id %q, want sha256:...", ii.ID)
	}
	imgs, err := c.ImageList(ctx, client.ImageListOptions{})
	if err != nil {
		t.Fatalf("image list: %v", err)
	}
	found := false
	for _, im := range imgs.Items {
		for _, tag := range im.RepoTags {
			found = found || tag == ref
		}
	}
	if !found {
		t.Errorf("image list has no RepoTag %q: %+v", ref, imgs.Items)
	}

	t.Run("echo --rm", func(t *testing.T) {
		res, err := runContainer(ctx, c, "", &container.Config{Image: ref, Cmd: []string{"echo", "hi"}}, &container.HostConfig{AutoRemove: true})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if res.Stdout != "hi\n" || res.ExitCode != 0 {
			t.Errorf("stdout %q exit %d, want \"hi\\n\" 0 (stderr %q)", res.Stdout, res.ExitCode, res.Stderr)
		}
		if _, err := c.ContainerInspect(ctx, res.ID, client.ContainerInspectOptions{}); !isNotFound(err) {
			t.Errorf("after wait(removed) of an AutoRemove container, inspect gave %v, want 404", err)
		}
	})

	t.Run("exit code and streams", func(t *testing.T) {
		res, err := runContainer(ctx, c, "e2e-client-exit3", &container.Config{Image: ref, Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}, nil)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		defer c.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true})
		if res.Stdout != "out\n" || res.Stderr != "err\n" || res.ExitCode != 3 {
			t.Errorf("stdout %q stderr %q exit %d, want \"out\\n\" \"err\\n\" 3", res.Stdout, res.Stderr, res.ExitCode)
		}
		ins := inspect(t, c, res.ID)
		if ins.State.Status != container.StateExited || ins.State.ExitCode != 3 || ins.State.Running {
			t.Errorf("inspect state %+v, want exited with 3", ins.State)
		}
		if ins.Name != "/e2e-client-exit3" {
			t.Errorf("inspect Name %q, want /e2e-client-exit3", ins.Name)
		}
		if ins.HostConfig == nil || ins.HostConfig.NetworkMode != "none" {
			t.Errorf("inspect HostConfig.NetworkMode %v, want none (loopback only until networking lands)", ins.HostConfig)
		}
		// A wait on an exited container answers at once with its status.
		w := c.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case r := <-w.Result:
			if r.StatusCode != 3 {
				t.Errorf("wait(not-running) on exited container: %d, want 3", r.StatusCode)
			}
		case err := <-w.Error:
			t.Errorf("wait(not-running): %v", err)
		case <-time.After(5 * time.Second):
			t.Errorf("wait(not-running) on an exited container did not answer within 5s")
		}
		list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("name", "e2e-client-exit3")})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(list.Items) != 1 || list.Items[0].ID != res.ID || list.Items[0].State != container.StateExited ||
			!strings.HasPrefix(list.Items[0].Status, "Exited (3)") {
			t.Errorf("list name=e2e-client-exit3: %+v, want the exited container with Status \"Exited (3) ...\"", list.Items)
		}
	})

	t.Run("loopback only network", func(t *testing.T) {
		res, err := runContainer(ctx, c, "", &container.Config{Image: ref, Cmd: []string{"cat", "/proc/net/dev"}}, &container.HostConfig{AutoRemove: true, NetworkMode: "default"})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		var ifaces []string
		for _, line := range strings.Split(res.Stdout, "\n") {
			if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
				ifaces = append(ifaces, strings.TrimSpace(name))
			}
		}
		if len(ifaces) != 1 || ifaces[0] != "lo" {
			t.Errorf("interfaces in the container %v, want only lo (own netns); /proc/net/dev:\n%s", ifaces, res.Stdout)
		}
	})
}
