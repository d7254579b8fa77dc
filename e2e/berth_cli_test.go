package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// TestBerthCLI runs the basic checks through bin/berth.
func TestBerthCLI(t *testing.T) {
	d := shared(t)
	c := apiClient(t, d)
	img := busyboxRef

	t.Run("version", func(t *testing.T) {
		if out, _, code := berth(t, d, "version"); code != 0 || !strings.Contains(out, "1.43") {
			t.Errorf("berth version: exit %d, want 0 and the server's API version 1.43 in %q", code, out)
		}
	})

	t.Run("pull, images, rmi", func(t *testing.T) {
		ref := pushBusyboxAs(t, "berthpull/busybox:v2")
		if _, _, code := berth(t, d, "pull", ref); code != 0 {
			t.Fatalf("berth pull %s exited %d", ref, code)
		}
		out, _, code := berth(t, d, "images")
		repo, tag, _ := strings.Cut(strings.TrimPrefix(ref, reg.Host+"/"), ":")
		if code != 0 || !strings.HasPrefix(out, "REPOSITORY") || !containsLineWith(out, reg.Host+"/"+repo, tag) {
			t.Errorf("berth images (exit %d) does not list %s/%s with tag %s", code, reg.Host, repo, tag)
		}
		out, _, code = berth(t, d, "rmi", ref)
		if code != 0 || !strings.Contains(out, "Untagged: "+ref) {
			t.Errorf("berth rmi %s: exit %d stdout %q, want 0 and \"Untagged: %s\"", ref, code, out, ref)
		}
		out, _, _ = berth(t, d, "images")
		if containsLineWith(out, reg.Host+"/"+repo, tag) {
			t.Errorf("berth images still lists %s after rmi", ref)
		}
		// busybox:latest (same image, another reference) must survive.
		if !containsLineWith(out, reg.Host+"/busybox", "latest") {
			t.Errorf("rmi of one reference removed another one of the same image")
		}
	})

	t.Run("run --rm echo", func(t *testing.T) {
		out, stderr, code := berth(t, d, "run", "--rm", img, "echo", "hi")
		if code != 0 || out != "hi\n" {
			t.Errorf("berth run --rm echo hi: exit %d stdout %q stderr %q, want 0 \"hi\\n\"", code, out, stderr)
		}
	})

	t.Run("run exit code, ps -a, inspect, rm", func(t *testing.T) {
		_, _, code := berth(t, d, "run", "--name", "e2e-berth-exit3", img, "sh", "-c", "exit 3")
		defer berth(t, d, "rm", "-f", "e2e-berth-exit3")
		if code != 3 {
			t.Errorf("berth run sh -c 'exit 3' exited %d, want 3", code)
		}
		out, _, code := berth(t, d, "ps", "-a")
		if code != 0 || !containsLineWith(out, "e2e-berth-exit3", "Exited (3)") {
			t.Errorf("berth ps -a (exit %d) has no line with e2e-berth-exit3 and \"Exited (3)\"", code)
		}
		out, _, code = berth(t, d, "inspect", "e2e-berth-exit3")
		if code != 0 {
			t.Fatalf("berth inspect exited %d", code)
		}
		var arr []container.InspectResponse
		if err := json.Unmarshal([]byte(out), &arr); err != nil || len(arr) != 1 {
			var one container.InspectResponse
			if err2 := json.Unmarshal([]byte(out), &one); err2 != nil {
				t.Fatalf("berth inspect output is not inspect JSON: %v / %v", err, err2)
			}
			arr = []container.InspectResponse{one}
		}
		if arr[0].State == nil || arr[0].State.ExitCode != 3 || arr[0].Name != "/e2e-berth-exit3" {
			t.Errorf("berth inspect: Name %q State %+v, want /e2e-berth-exit3 with ExitCode 3", arr[0].Name, arr[0].State)
		}
	})

	t.Run("run -d, rm -f", func(t *testing.T) {
		out, _, code := berth(t, d, "run", "-d", img, "sleep", "300")
		id := strings.TrimSpace(out)
		if code != 0 || !hexID.MatchString(id) {
			t.Fatalf("berth run -d: exit %d stdout %q, want a 64-hex id", code, out)
		}
		if ins := inspect(t, c, id); !ins.State.Running {
			t.Errorf("berth run -d: container not running: %+v", ins.State)
		}
		out, _, code = berth(t, d, "ps", "-q")
		if code != 0 || !strings.Contains(out, id[:12]) {
			t.Errorf("berth ps -q (exit %d) does not list %s", code, id[:12])
		}
		if _, _, code := berth(t, d, "rm", "-f", id); code != 0 {
			t.Errorf("berth rm -f exited %d", code)
		}
		if _, _, code := berth(t, d, "inspect", id); code == 0 {
			t.Errorf("berth inspect succeeds after rm -f")
		}
	})
}

// containsLineWith reports whether some line of out contains every part.
func containsLineWith(out string, parts ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}
