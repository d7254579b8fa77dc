package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/e2e/harness"
)

// TestBadInput checks status codes and error bodies of rejected requests,
// and that none of them leaves a partial record behind.
func TestBadInput(t *testing.T) {
	d := shared(t)
	c := apiClient(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	img := busyboxRef

	// noNewRecords fails when the container list differs from before, apart
	// from the ids in keep.
	noNewRecords := func(t *testing.T, before map[string]container.Summary, keep ...string) {
		t.Helper()
		after := listRaw(t, d)
		allowed := map[string]bool{}
		for _, k := range keep {
			allowed[k] = true
		}
		for id, s := range after {
			if _, ok := before[id]; !ok && !allowed[id] {
				t.Errorf("a rejected request left a record: %s %v state %s", id, s.Names, s.State)
			}
		}
	}

	t.Run("unknown image", func(t *testing.T) {
		before := listRaw(t, d)
		for _, ref := range []string{reg.Host + "/nosuch/image:v1", "berth-e2e-nosuch:latest"} {
			_, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: ref, Cmd: []string{"true"}}, Name: "e2e-bad-noimage"})
			if !cerrdefs.IsNotFound(err) {
				t.Errorf("create from missing image %s: %v, want 404", ref, err)
			}
		}
		body, _ := json.Marshal(map[string]any{"Image": "berth-e2e-nosuch:latest", "Cmd": []string{"true"}})
		r := rawDo(t, d, "POST", "/v1.43/containers/create?name=e2e-bad-noimage", "application/json", body)
		if r.Status != 404 {
			t.Errorf("raw create from a missing image: status %d, want 404", r.Status)
		}
		checkErrorBody(t, "missing image", r)
		noNewRecords(t, before)
		if _, err := c.ContainerInspect(ctx, "e2e-bad-noimage", client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
			t.Errorf("the name of a failed create is taken: %v", err)
		}
	})

	t.Run("name in use", func(t *testing.T) {
		cr, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: img, Cmd: []string{"true"}}, Name: "e2e-bad-dup"})
		if err != nil {
			t.Fatalf("first create: %v", err)
		}
		defer c.ContainerRemove(ctx, cr.ID, client.ContainerRemoveOptions{Force: true})
		before := listRaw(t, d)
		_, err = c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: img, Cmd: []string{"true"}}, Name: "e2e-bad-dup"})
		if !cerrdefs.IsConflict(err) || !strings.Contains(err.Error(), "in use") {
			t.Errorf("second create with the same name: %v, want 409 \"... is already in use ...\"", err)
		}
		body, _ := json.Marshal(map[string]any{"Image": img, "Cmd": []string{"true"}})
		r := rawDo(t, d, "POST", "/containers/create?name=e2e-bad-dup", "application/json", body)
		if r.Status != 409 {
			t.Errorf("raw create with a used name: status %d, want 409", r.Status)
		}
		checkErrorBody(t, "name in use", r)
		noNewRecords(t, before)
		if ins := inspect(t, c, "e2e-bad-dup"); ins.ID != cr.ID {
			t.Errorf("name e2e-bad-dup now points to %s, want the first container %s", ins.ID, cr.ID)
		}
	})

	t.Run("invalid name", func(t *testing.T) {
		before := listRaw(t, d)
		for _, name := range []string{"a/b", "-x", "a b", "é"} {
			_, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: img, Cmd: []string{"true"}}, Name: name})
			if !cerrdefs.IsInvalidArgument(err) {
				t.Errorf("create with name %q: %v, want 400", name, err)
			}
		}
		body, _ := json.Marshal(map[string]any{"Image": img})
		r := rawDo(t, d, "POST", "/v1.43/containers/create?name=-x", "application/json", body)
		if r.Status != 400 {
			t.Errorf("raw create with name -x: status %d, want 400", r.Status)
		}
		checkErrorBody(t, "invalid name", r)
		noNewRecords(t, before)
	})

	t.Run("malformed JSON", func(t *testing.T) {
		before := listRaw(t, d)
		deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
		for what, body := range map[string]string{
			"truncated":     `{"Image":`,
			"not JSON":      `hello`,
			"wrong type":    `{"Image": 5}`,
			"trailing data": `{"Image":"` + img + `"} {"x":1}`,
			"too deep":      `{"Image":"` + img + `","Labels":` + deep + `}`,
		} {
			r := rawDo(t, d, "POST", "/v1.43/containers/create", "application/json", []byte(body))
			if r.Status != 400 {
				t.Errorf("create with %s body: status %d, want 400 (body %q)", what, r.Status, r.Body)
			}
			checkErrorBody(t, "malformed JSON ("+what+")", r)
		}
		noNewRecords(t, before)
		// The daemon is still fine.
		if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
			t.Errorf("ping after malformed bodies: %v", err)
		}
	})

	t.Run("start of a removed container", func(t *testing.T) {
		before := listRaw(t, d)
		cr, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: img, Cmd: []string{"true"}}, Name: "e2e-bad-removed"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := c.ContainerRemove(ctx, cr.ID, client.ContainerRemoveOptions{}); err != nil {
			t.Fatalf("remove: %v", err)
		}
		if _, err := c.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); !cerrdefs.IsNotFound(err) {
			t.Errorf("start of a removed container: %v, want 404", err)
		}
		r := rawDo(t, d, "POST", "/v1.43/containers/"+cr.ID+"/start", "", nil)
		if r.Status != 404 {
			t.Errorf("raw start of a removed container: status %d, want 404", r.Status)
		}
		checkErrorBody(t, "start of removed container", r)
		r = rawDo(t, d, "POST", "/v1.43/containers/e2e-bad-removed/start", "", nil)
		if r.Status != 404 {
			t.Errorf("raw start by the removed container's name: status %d, want 404", r.Status)
		}
		noNewRecords(t, before)
		// The name is free again.
		cr2, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: img, Cmd: []string{"true"}}, Name: "e2e-bad-removed"})
		if err != nil {
			t.Errorf("create with the name of a removed container: %v", err)
		} else {
			c.ContainerRemove(ctx, cr2.ID, client.ContainerRemoveOptions{Force: true})
		}
	})

	t.Run("failed start is undone", func(t *testing.T) {
		// Not one of the listed checks but the same rule: a start
		// that fails leaves the container created, holding nothing.
		cr, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: img, Cmd: []string{"/no/such/binary"}}})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		defer c.ContainerRemove(ctx, cr.ID, client.ContainerRemoveOptions{Force: true})
		_, err = c.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{})
		if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
			t.Errorf("start of a missing executable: %v, want runc's \"no such file or directory\" message", err)
		}
		ins := inspect(t, c, cr.ID)
		if ins.State.Running || ins.State.Pid != 0 {
			t.Errorf("after a failed start: State %+v, want not running", ins.State)
		}
		if _, err := c.ContainerRemove(ctx, cr.ID, client.ContainerRemoveOptions{}); err != nil {
			t.Errorf("remove (no force) after a failed start: %v", err)
		}
		if m := mountsUnder(d.Dir); len(m) > 0 {
			// Other tests' containers are all removed by now.
			t.Errorf("mounts left after a failed start and remove: %v", m)
		}
	})

	t.Run("unknown route and bad query", func(t *testing.T) {
		r := rawDo(t, d, "GET", "/v1.43/no/such/route", "", nil)
		if r.Status != 404 {
			t.Errorf("unknown route: status %d, want 404", r.Status)
		}
		checkErrorBody(t, "unknown route", r)
		r = rawDo(t, d, "POST", "/v1.43/containers/nosuch-e2e/wait?condition=bogus", "", nil)
		if r.Status != 400 && r.Status != 404 {
			t.Errorf("wait with a bad condition: status %d, want 400 (or 404 for the missing container)", r.Status)
		}
		r = rawDo(t, d, "GET", "/v9.99/version", "", nil)
		if r.Status != 400 {
			t.Errorf("too new API version: status %d, want 400", r.Status)
		}
		checkErrorBody(t, "too new API version", r)
	})
}

// listRaw lists all containers through raw HTTP, as GET
// /containers/json?all=1.
func listRaw(t *testing.T, d *harness.Daemon) map[string]container.Summary {
	t.Helper()
	r := rawDo(t, d, "GET", "/v1.43/containers/json?all=1", "", nil)
	if r.Status != 200 {
		t.Fatalf("GET /containers/json?all=1: %d %s", r.Status, r.Body)
	}
	var list []container.Summary
	if err := json.Unmarshal(r.Body, &list); err != nil {
		t.Fatalf("GET /containers/json?all=1: %v", err)
	}
	m := map[string]container.Summary{}
	for _, s := range list {
		m[s.ID] = s
	}
	return m
}
