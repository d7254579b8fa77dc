package main

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/urfave/cli/v2"
)

// berth runs the CLI in-process and returns exit status, stdout, stderr.
func berth(t *testing.T, host string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := runMain(ctx, append([]string{"berth", "-H", host}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunFollowsDockerOrder(t *testing.T) {
	e := newFakeEngine()
	e.ExitCode = 3
	host := serve(t, e)
	code, out, errOut := berth(t, host, "run", "--rm", "-e", "A=1", "busybox", "echo", "hi")
	if code != 3 {
		t.Fatalf("exit = %d, stderr %q", code, errOut)
	}
	if out != "echo hi\n" || !strings.Contains(errOut, "oops\n") {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	if !strings.Contains(errOut, "Unable to find image 'busybox:latest' locally") {
		t.Fatalf("stderr %q", errOut)
	}
	want := "create,pull docker.io/library/busybox:latest,create,attach,wait removed,start"
	if got := e.callList(); got != want {
		t.Fatalf("calls = %s\nwant    %s", got, want)
	}
	e.mu.Lock()
	c := e.ctrs["1111111111111111111111111111111111111111111111111111111111111111"]
	e.mu.Unlock()
	if c == nil || !c.hc.AutoRemove || c.cfg.Env[0] != "A=1" || !c.cfg.AttachStdout || c.cfg.AttachStdin {
		t.Fatalf("created %+v", c)
	}
}

func TestRunDetachPrintsID(t *testing.T) {
	e := newFakeEngine()
	e.pulled["busybox"] = true
	host := serve(t, e)
	code, out, errOut := berth(t, host, "run", "-d", "--name", "web", "busybox", "sleep", "1")
	if code != 0 || out != strings.Repeat("1", 64)+"\n" {
		t.Fatalf("exit %d out %q err %q", code, out, errOut)
	}
	if got := e.callList(); got != "create,start" {
		t.Fatalf("calls = %s", got)
	}
	e.mu.Lock()
	web := e.ctrs["web"]
	e.mu.Unlock()
	if web.cfg.AttachStdout {
		t.Fatal("detached container created with attach flags")
	}
}

func TestLifecycleCommands(t *testing.T) {
	e := newFakeEngine()
	e.pulled["busybox"] = true
	host := serve(t, e)
	if code, out, errOut := berth(t, host, "create", "--name", "c1", "busybox"); code != 0 || len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	if code, out, _ := berth(t, host, "kill", "-s", "INT", "c1"); code != 0 || out != "c1\n" {
		t.Fatalf("kill: %d %q", code, out)
	}
	e.mu.Lock()
	signals := e.signals
	e.mu.Unlock()
	if len(signals) != 1 || signals[0] != syscall.SIGINT {
		t.Fatalf("signals = %v", signals)
	}
	if code, _, errOut := berth(t, host, "kill", "-s", "NOPE", "c1"); code != 1 || !strings.Contains(errOut, "Invalid signal: NOPE") {
		t.Fatalf("kill bad signal: %d %q", code, errOut)
	}
	if code, out, errOut := berth(t, host, "rm", "-f", "c1", "missing"); code != 0 || out != "c1\n" || !strings.Contains(errOut, "No such container: missing") {
		t.Fatalf("rm -f: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := berth(t, host, "rm", "missing"); code != 1 || !strings.Contains(errOut, "Error response from daemon: No such container: missing") {
		t.Fatalf("rm missing: %d %q", code, errOut)
	}
	if code, out, _ := berth(t, host, "rmi", "busybox"); code != 0 || !strings.Contains(out, "Untagged: busybox:latest\nDeleted: sha256:") {
		t.Fatalf("rmi: %d %q", code, out)
	}
	if code, out, _ := berth(t, host, "inspect", "busybox"); code != 0 || !strings.Contains(out, `"Id": "sha256:fff`) {
		t.Fatalf("inspect image fall-through: %d %q", code, out)
	}
	if code, out, _ := berth(t, host, "version"); code != 0 || !strings.Contains(out, "ApiVersion:    1.43") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, out, _ := berth(t, host, "info"); code != 0 || !strings.Contains(out, "Storage Driver: overlayfs\n  Backing Filesystem: extfs") {
		t.Fatalf("info: %d %q", code, out)
	}
	if code, out, _ := berth(t, host, "images"); code != 0 || !strings.Contains(out, "busybox      latest    ffffffffffff") {
		t.Fatalf("images: %d %q", code, out)
	}
}

func TestParseCreate(t *testing.T) {
	env := map[string]string{"HOME": "/root"}
	var spec *createSpec
	app := &cli.App{Name: "berth", Commands: []*cli.Command{{
		Name: "run", Flags: runCommand().Flags, UseShortOptionHandling: true,
		Action: func(c *cli.Context) error {
			var err error
			spec, err = parseCreate(c, false, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			return err
		},
	}}}
	err := app.Run([]string{"berth", "run", "-it", "-e", "A=1", "-e", "HOME", "-e", "UNSET", "--entrypoint", "/bin/sh", "-w", "/tmp", "-u", "1000:1000",
		"--label", "a=b", "--label", "flag", "--name", "x", "busybox", "-c", "echo hi"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := spec.config
	if cfg.Image != "busybox" || strings.Join(cfg.Cmd, "|") != "-c|echo hi" || cfg.Entrypoint[0] != "/bin/sh" {
		t.Fatalf("cmd: %+v", cfg)
	}
	if strings.Join(cfg.Env, ",") != "A=1,HOME=/root" || cfg.WorkingDir != "/tmp" || cfg.User != "1000:1000" {
		t.Fatalf("env/workdir/user: %+v", cfg)
	}
	if cfg.Labels["a"] != "b" || cfg.Labels["flag"] != "" || len(cfg.Labels) != 2 || spec.name != "x" {
		t.Fatalf("labels/name: %+v %q", cfg.Labels, spec.name)
	}
	if !cfg.Tty || !cfg.OpenStdin || !cfg.AttachStdin || !cfg.StdinOnce || spec.hostConfig.NetworkMode != "default" {
		t.Fatalf("tty/stdin: %+v", cfg)
	}
}

func TestWritePS(t *testing.T) {
	now := time.Unix(1_700_000_100, 0)
	var b bytes.Buffer
	writePS(&b, []container.Summary{{
		ID: strings.Repeat("a", 64), Names: []string{"/web", "/other/link"}, Image: "busybox",
		Command: "sh -c 'while true; do sleep 1; done'", Created: 1_700_000_000, Status: "Up 1 minute",
		Ports: []container.PortSummary{{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, {PrivatePort: 443, Type: "tcp"}},
	}}, false, false, now)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID   IMAGE     COMMAND ") {
		t.Fatalf("table:\n%s", b.String())
	}
	for _, want := range []string{"aaaaaaaaaaaa   busybox", `"sh -c 'while true; …"`, "About a minute ago", "Up 1 minute", "0.0.0.0:8080->80/tcp, 443/tcp", " web"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if strings.Contains(lines[1], "link") {
		t.Errorf("legacy link name shown: %q", lines[1])
	}
	b.Reset()
	writePS(&b, []container.Summary{{ID: strings.Repeat("b", 64)}}, true, false, now)
	if b.String() != "bbbbbbbbbbbb\n" {
		t.Fatalf("quiet = %q", b.String())
	}
}

func TestWriteImagesAndEvents(t *testing.T) {
	var b bytes.Buffer
	writeImages(&b, []image.Summary{
		{ID: "sha256:" + strings.Repeat("c", 64), RepoTags: []string{"localhost:5000/a/b:v1"}, Size: 1_234_567, Created: 1},
		{ID: "sha256:" + strings.Repeat("d", 64), Size: 10},
	}, false, false, time.Unix(1+3600*2, 0))
	out := b.String()
	for _, want := range []string{"REPOSITORY", "localhost:5000/a/b   v1        cccccccccccc   2 hours ago   1.23MB", "<none>               <none>"} {
		if !strings.Contains(out, want) {
			t.Errorf("images output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	writeEvent(&b, events.Message{Type: "container", Action: "die", Actor: events.Actor{ID: "abc", Attributes: map[string]string{"name": "x", "exitCode": "0"}}, TimeNano: 1_700_000_000_000000001})
	if got := b.String(); !strings.HasSuffix(got, " container die abc (exitCode=0, name=x)\n") || !strings.Contains(got, ".000000001") {
		t.Fatalf("event line %q", got)
	}
}

func TestProgressRenderer(t *testing.T) {
	var b bytes.Buffer
	r := newProgressRenderer(&b, false)
	msgs := []jsonstream.Message{
		{Status: "Pulling from library/busybox", ID: "latest"},
		{Status: "Downloading", ID: "abc", Progress: &jsonstream.Progress{Current: 1, Total: 10}},
		{Status: "Downloading", ID: "abc", Progress: &jsonstream.Progress{Current: 5, Total: 10}},
		{Status: "Pull complete", ID: "abc"},
		{Status: "Digest: sha256:x"},
	}
	for _, m := range msgs {
		if err := r.render(m); err != nil {
			t.Fatal(err)
		}
	}
	if want := "latest: Pulling from library/busybox\nabc: Downloading\nabc: Pull complete\nDigest: sha256:x\n"; b.String() != want {
		t.Fatalf("plain output %q", b.String())
	}
	b.Reset()
	r = newProgressRenderer(&b, true)
	for _, m := range msgs[1:3] {
		_ = r.render(m)
	}
	_ = r.render(jsonstream.Message{Status: "Waiting", ID: "def"})
	_ = r.render(jsonstream.Message{Status: "Pull complete", ID: "abc"})
	out := b.String()
	if !strings.Contains(out, "abc: Downloading [=====>") || !strings.Contains(out, "\x1b[2A\r\x1b[2Kabc: Pull complete") {
		t.Fatalf("tty output %q", out)
	}
	if err := r.render(jsonstream.Message{Error: &jsonstream.Error{Message: "manifest unknown"}}); err == nil || err.Error() != "manifest unknown" {
		t.Fatalf("error message: %v", err)
	}
	if got := progressBar(&jsonstream.Progress{Current: 10, Total: 10}); !strings.HasPrefix(got, "["+strings.Repeat("=", 50)+"]") {
		t.Fatalf("full bar %q", got)
	}
}
