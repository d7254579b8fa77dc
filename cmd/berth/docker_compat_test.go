package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDockerCLICompat drives the stock docker CLI (when installed) against
// the API layer over the fake engine: the same call order as berth run.
func TestDockerCLICompat(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed")
	}
	e := newFakeEngine()
	e.ExitCode = 7
	host := serve(t, e)
	run := func(args ...string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, docker, append([]string{"-H", host}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "DOCKER_CLI_HINTS=false")
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("run", "--rm", "busybox", "echo", "hi")
	if code != 7 || out != "echo hi\n" || !strings.Contains(errOut, "oops") || !strings.Contains(errOut, "Unable to find image 'busybox:latest' locally") {
		t.Fatalf("docker run: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if got := e.callList(); !strings.HasSuffix(got, "create,attach,wait removed,start") {
		t.Fatalf("docker run calls: %s", got)
	}
	code, out, errOut = run("run", "-d", "busybox", "true")
	if code != 0 || len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("docker run -d: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, errOut = run("ps", "-a")
	if code != 0 || !strings.HasPrefix(out, "CONTAINER ID") {
		t.Fatalf("docker ps: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, _, errOut = run("rm", "-f", "missing")
	if code != 0 || !strings.Contains(errOut, "No such container: missing") {
		t.Fatalf("docker rm -f missing: exit %d stderr %q", code, errOut)
	}
	code, out, errOut = run("images")
	if code != 0 || !strings.Contains(out, "busybox") {
		t.Fatalf("docker images: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, errOut = run("inspect", "busybox")
	if code != 0 || !strings.Contains(out, "sha256:fff") {
		t.Fatalf("docker inspect: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, errOut = run("version")
	if code != 0 || !strings.Contains(out, "API version:") || !strings.Contains(out, "1.43") || !strings.Contains(out, "0.1.0") {
		t.Fatalf("docker version: exit %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, errOut = run("info")
	if code != 0 || !strings.Contains(out, "Storage Driver: overlayfs") || strings.Contains(out, "NodeID") {
		t.Fatalf("docker info: exit %d stdout %q stderr %q", code, out, errOut)
	}
}
