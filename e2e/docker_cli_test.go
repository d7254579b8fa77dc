package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/e2e/harness"
)

var hexID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// dockerInspect runs `docker inspect` on one object and decodes it.
func dockerInspect(t *testing.T, d *harness.Daemon, name string) container.InspectResponse {
	t.Helper()
	out, _, code := docker(t, d, "inspect", name)
	if code != 0 {
		t.Fatalf("docker inspect %s exited %d", name, code)
	}
	var got []container.InspectResponse
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("docker inspect %s: want a JSON array of one object: %v", name, err)
	}
	return got[0]
}

// sigCaught reports whether process pid has a handler for signal sig.
func sigCaught(pid, sig int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(sig-1)) != 0
		}
	}
	return false
}

// TestDockerCLI drives the shared daemon with the stock docker CLI as the
// issue's checks do.
func TestDockerCLI(t *testing.T) {
	d := shared(t)
	c := apiClient(t, d)
	img := busyboxRef
	if !isFile(dockerCLI) {
		t.Skip("docker CLI not installed at " + dockerCLI)
	}

	t.Run("version", func(t *testing.T) {
		out, _, code := docker(t, d, "version", "--format", "{{.Server.APIVersion}}")
		if code != 0 || strings.TrimSpace(out) != "1.43" {
			t.Errorf("docker version: exit %d, server API %q, want 0 and 1.43", code, strings.TrimSpace(out))
		}
	})

	t.Run("pull", func(t *testing.T) {
		ref := pushBusyboxAs(t, "clipull/busybox:latest")
		untagged := strings.TrimSuffix(ref, ":latest")
		out, _, code := docker(t, d, "pull", untagged)
		if code != 0 {
			t.Fatalf("docker pull %s exited %d", untagged, code)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.Contains(out, "Using default tag: latest") || lines[len(lines)-1] != ref {
			t.Errorf("docker pull output should announce the default tag and end with %q", ref)
		}
		out, _, code = docker(t, d, "images", "--format", "{{.Repository}}:{{.Tag}}")
		if code != 0 || !strings.Contains("\n"+out, "\n"+ref+"\n") {
			t.Errorf("docker images (exit %d) does not list %s", code, ref)
		}
	})

	t.Run("run --rm echo", func(t *testing.T) {
		out, stderr, code := docker(t, d, "run", "--rm", "--name", "e2e-cli-echo", img, "echo", "hi")
		if code != 0 || out != "hi\n" {
			t.Errorf("docker run --rm echo hi: exit %d stdout %q, want 0 \"hi\\n\" (stderr %q)", code, out, stderr)
		}
		if _, _, code := docker(t, d, "inspect", "--type", "container", "e2e-cli-echo"); code == 0 {
			t.Errorf("--rm container still exists after docker run returned")
		}
	})

	// `docker run -it` under a terminal: raw tty stream, stdin, the size the
	// CLI sends with resize, and the exit code.
	t.Run("run -it", func(t *testing.T) {
		script, err := exec.LookPath("script")
		if err != nil {
			t.Skip("script(1) is needed to give the docker CLI a terminal")
		}
		cmd := exec.Command(script, "-qec", "stty rows 33 cols 101; docker run -it --rm "+img+" sh", "/dev/null")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host())
		cmd.Stdin = strings.NewReader("stty size\nexit 7\n")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 7 {
			t.Errorf("docker run -it: exit %d, want 7; output:\n%s", code, out)
		}
		if !strings.Contains(string(out), "33 101") {
			t.Errorf("the container's terminal is not 33x101; output:\n%s", out)
		}
	})

	// `docker run -i`: the client's stdin reaches the process, all of it,
	// and its end is the process's EOF (the shim keeps the FIFO open, so the
	// kernel closes stdin through the runtime once the shim has copied it).
	t.Run("run -i stdin", func(t *testing.T) {
		input := strings.Repeat("0123456789abcdef\n", 1<<17) // 2 MiB, more than the pipe holds
		for _, tc := range []struct {
			in   string
			cmd  []string
			want string
		}{
			{"a\nb\nc\n", []string{"wc", "-l"}, "3"},
			{input, []string{"wc", "-c"}, strconv.Itoa(len(input))},
		} {
			cmd := exec.Command("docker", append([]string{"run", "-i", "--rm", img}, tc.cmd...)...)
			cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host())
			cmd.Stdin = strings.NewReader(tc.in)
			done := make(chan struct{})
			timer := time.AfterFunc(30*time.Second, func() {
				select {
				case <-done:
				default:
					_ = cmd.Process.Kill()
				}
			})
			out, err := cmd.Output()
			close(done)
			timer.Stop()
			if err != nil || strings.TrimSpace(string(out)) != tc.want {
				t.Errorf("docker run -i %v with %d bytes: %v, stdout %q, want %q", tc.cmd, len(tc.in), err, out, tc.want)
			}
		}
	})

	t.Run("pause, unpause, stop a paused container", func(t *testing.T) {
		out, stderr, code := docker(t, d, "run", "-d", "--name", "e2e-cli-pause", img, "sh", "-c", `trap "exit 9" TERM; while true; do sleep 0.1; done`)
		if code != 0 {
			t.Fatalf("run -d: exit %d: %s", code, stderr)
		}
		id := strings.TrimSpace(out)
		defer docker(t, d, "rm", "-f", id)
		if _, stderr, code := docker(t, d, "pause", id); code != 0 {
			t.Fatalf("pause: exit %d: %s", code, stderr)
		}
		if out, _, _ := docker(t, d, "ps", "--filter", "id="+id, "--format", "{{.Status}}"); !strings.HasSuffix(strings.TrimSpace(out), "(Paused)") {
			t.Errorf("docker ps of a paused container: %q, want \"Up ... (Paused)\"", out)
		}
		if _, stderr, code := docker(t, d, "pause", id); code == 0 || !strings.Contains(stderr, "already paused") {
			t.Errorf("second pause: exit %d, stderr %q, want a conflict", code, stderr)
		}
		if _, stderr, code := docker(t, d, "unpause", id); code != 0 {
			t.Fatalf("unpause: exit %d: %s", code, stderr)
		}
		if _, stderr, code := docker(t, d, "pause", id); code != 0 {
			t.Fatalf("pause again: exit %d: %s", code, stderr)
		}
		// The TERM of stop must reach the frozen process: berthd thaws it.
		if _, stderr, code := docker(t, d, "stop", id); code != 0 {
			t.Fatalf("stop of a paused container: exit %d: %s", code, stderr)
		}
		ins := dockerInspect(t, d, id)
		if ins.State.Status != container.StateExited || ins.State.ExitCode != 9 || ins.State.Paused {
			t.Errorf("after stop of a paused container: %+v, want exited 9 (its TERM trap)", ins.State)
		}
	})

	// `docker start -a` attaches before it starts, also to a container that
	// ran before: each run's output must reach the client that attached for it.
	t.Run("start -a, three times", func(t *testing.T) {
		if _, stderr, code := docker(t, d, "create", "--name", "e2e-cli-start-a", img, "echo", "again"); code != 0 {
			t.Fatalf("docker create: exit %d: %s", code, stderr)
		}
		defer docker(t, d, "rm", "-f", "e2e-cli-start-a")
		for i := 1; i <= 3; i++ {
			out, stderr, code := docker(t, d, "start", "-a", "e2e-cli-start-a")
			if code != 0 || out != "again\n" {
				t.Errorf("run %d: docker start -a: exit %d stdout %q, want 0 \"again\\n\" (stderr %q)", i, code, out, stderr)
			}
		}
	})

	t.Run("run exit 3, ps, inspect", func(t *testing.T) {
		_, _, code := docker(t, d, "run", "--name", "e2e-cli-exit3", img, "sh", "-c", "exit 3")
		defer docker(t, d, "rm", "-f", "e2e-cli-exit3")
		if code != 3 {
			t.Errorf("docker run sh -c 'exit 3' exited %d, want 3", code)
		}
		out, _, code := docker(t, d, "ps", "-a")
		if code != 0 {
			t.Fatalf("docker ps -a exited %d", code)
		}
		if !strings.HasPrefix(out, "CONTAINER ID") {
			t.Errorf("docker ps -a has no header")
		}
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasSuffix(strings.TrimSpace(l), "e2e-cli-exit3") {
				line = l
			}
		}
		if !strings.Contains(line, "Exited (3)") || !strings.Contains(line, img) {
			t.Errorf("docker ps -a line for e2e-cli-exit3 is %q, want image %s and \"Exited (3)\"", line, img)
		}
		out, _, _ = docker(t, d, "ps", "--format", "{{.Names}}")
		if strings.Contains(out, "e2e-cli-exit3") {
			t.Errorf("docker ps (running only) lists the exited container")
		}
		ins := dockerInspect(t, d, "e2e-cli-exit3")
		if ins.State == nil || ins.State.ExitCode != 3 || ins.State.Status != "exited" {
			t.Errorf("inspect State %+v, want exited with ExitCode 3", ins.State)
		}
		if ins.HostConfig == nil || ins.HostConfig.NetworkMode != "none" {
			t.Errorf("inspect HostConfig.NetworkMode = %v, want none (loopback only until networking lands)", ins.HostConfig)
		}
		if !hexID.MatchString(ins.ID) || ins.Name != "/e2e-cli-exit3" {
			t.Errorf("inspect Id %q Name %q, want 64 hex and /e2e-cli-exit3", ins.ID, ins.Name)
		}
	})

	t.Run("run pulls a missing image", func(t *testing.T) {
		ref := pushBusyboxAs(t, "runpull/busybox:v1")
		out, stderr, code := docker(t, d, "run", "--rm", ref, "echo", "pulled")
		if code != 0 || out != "pulled\n" {
			t.Errorf("docker run of a not-yet-pulled image: exit %d stdout %q, want 0 \"pulled\\n\"", code, out)
		}
		if !strings.Contains(stderr, "Unable to find image") {
			t.Errorf("the CLI did not go through its pull-on-404 path (stderr %q)", stderr)
		}
	})

	t.Run("failed start exit codes", func(t *testing.T) {
		before := listRaw(t, d)
		// The CLI maps runc's messages to 127 and 126; with --rm it waits
		// for the removal, so the daemon must remove a container whose
		// start failed or the CLI hangs.
		for _, tc := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"run", "--rm", img, "nosuchcommand"}, 127, "executable file not found"},
			{[]string{"run", "--rm", img, "/etc/passwd"}, 126, "permission denied"},
			{[]string{"run", "--name", "e2e-cli-failstart", img, "nosuchcommand"}, 127, "executable file not found"},
		} {
			_, stderr, code := docker(t, d, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("docker %q: exit %d stderr %q, want %d and %q (-1 = hung for 90s)", tc.args, code, stderr, tc.code, tc.msg)
			}
		}
		ins := dockerInspect(t, d, "e2e-cli-failstart")
		if ins.State == nil || ins.State.Running || ins.State.Pid != 0 {
			t.Errorf("container whose start failed: State %+v, want not running", ins.State)
		}
		docker(t, d, "rm", "-f", "e2e-cli-failstart")
		for id, s := range listRaw(t, d) {
			if _, ok := before[id]; !ok {
				t.Errorf("failed starts left container %s %v (%s)", id[:12], s.Names, s.State)
				docker(t, d, "rm", "-f", id)
			}
		}
	})

	t.Run("run -d, start twice, stop escalates to KILL", func(t *testing.T) {
		out, _, code := docker(t, d, "run", "-d", "--name", "e2e-cli-sleep", img, "sleep", "300")
		defer docker(t, d, "rm", "-f", "e2e-cli-sleep")
		id := strings.TrimSpace(out)
		if code != 0 || !hexID.MatchString(id) || out != id+"\n" {
			t.Fatalf("docker run -d: exit %d stdout %q, want a 64-hex id and a newline", code, out)
		}
		out, _, code = docker(t, d, "start", "e2e-cli-sleep")
		if code != 0 || strings.TrimSpace(out) != "e2e-cli-sleep" {
			t.Errorf("docker start of a running container: exit %d stdout %q, want 0 (304 is success)", code, out)
		}
		start := time.Now()
		_, _, code = docker(t, d, "stop", "-t", "1", "e2e-cli-sleep")
		took := time.Since(start)
		if code != 0 {
			t.Fatalf("docker stop -t 1 exited %d", code)
		}
		if took < time.Second || took > 10*time.Second {
			t.Errorf("docker stop -t 1 of a TERM-ignoring PID 1 took %s, want about 1s (TERM, wait, KILL)", took)
		}
		ins := inspect(t, c, id)
		if ins.State.Running || ins.State.ExitCode != 137 {
			t.Errorf("after stop: State %+v, want exited with 137 (SIGKILL)", ins.State)
		}
		if _, _, code := docker(t, d, "stop", "e2e-cli-sleep"); code != 0 {
			t.Errorf("docker stop of a stopped container exited %d, want 0 (304)", code)
		}
	})

	t.Run("rm -f running", func(t *testing.T) {
		out, _, code := docker(t, d, "run", "-d", img, "sleep", "300")
		id := strings.TrimSpace(out)
		if code != 0 || !hexID.MatchString(id) {
			t.Fatalf("docker run -d exited %d: %q", code, out)
		}
		_, stderr, code := docker(t, d, "rm", id)
		if code == 0 || !strings.Contains(stderr, "running") {
			t.Errorf("docker rm (no -f) of a running container: exit %d stderr %q, want an error (409) saying it runs", code, stderr)
		}
		out, _, code = docker(t, d, "rm", "-f", id)
		if code != 0 || strings.TrimSpace(out) != id {
			t.Errorf("docker rm -f: exit %d stdout %q, want 0 and the id", code, out)
		}
		_, stderr, code = docker(t, d, "inspect", id)
		if code == 0 || !strings.Contains(stderr, "No such object") {
			t.Errorf("inspect after rm -f: exit %d stderr %q, want \"No such object\"", code, stderr)
		}
	})

	t.Run("kill -s", func(t *testing.T) {
		for i, sig := range []string{"INT", "SIGINT", "2"} {
			name := fmt.Sprintf("e2e-cli-kill%d", i)
			// sh as PID 1 only dies of INT through its trap: exit 42 proves
			// the INT (and not a default KILL) arrived.
			out, _, code := docker(t, d, "run", "-d", "--name", name, img, "sh", "-c", `trap "exit 42" INT; while true; do sleep 1; done`)
			id := strings.TrimSpace(out)
			if code != 0 {
				t.Fatalf("docker run -d exited %d", code)
			}
			pid := inspect(t, c, id).State.Pid
			deadline := time.Now().Add(10 * time.Second)
			for !sigCaught(pid, 2) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			out, _, code = docker(t, d, "kill", "-s", sig, name)
			if code != 0 || strings.TrimSpace(out) != name {
				t.Errorf("docker kill -s %s: exit %d stdout %q", sig, code, out)
			}
			ins := waitState(t, c, id, container.StateExited, 10*time.Second)
			if ins.State.ExitCode != 42 {
				t.Errorf("after kill -s %s: exit code %d, want 42 (the trap ran)", sig, ins.State.ExitCode)
			}
			docker(t, d, "rm", name)
		}
	})

	t.Run("kill invalid signal", func(t *testing.T) {
		out, _, code := docker(t, d, "run", "-d", "--name", "e2e-cli-badsig", img, "sleep", "300")
		defer docker(t, d, "rm", "-f", "e2e-cli-badsig")
		id := strings.TrimSpace(out)
		if code != 0 {
			t.Fatalf("docker run -d exited %d", code)
		}
		_, stderr, code := docker(t, d, "kill", "-s", "NOSUCHSIG", "e2e-cli-badsig")
		if code == 0 || !strings.Contains(stderr, "Error response from daemon") || !strings.Contains(strings.ToLower(stderr), "signal") {
			t.Errorf("docker kill -s NOSUCHSIG: exit %d stderr %q, want a daemon error about the signal", code, stderr)
		}
		r := rawDo(t, d, "POST", "/v1.43/containers/"+id+"/kill?signal=NOSUCHSIG", "", nil)
		if r.Status != 400 {
			t.Errorf("POST /kill?signal=NOSUCHSIG: status %d, want 400", r.Status)
		}
		checkErrorBody(t, "kill with a bad signal", r)
		if ins := inspect(t, c, id); !ins.State.Running {
			t.Errorf("a rejected kill stopped the container: %+v", ins.State)
		}
	})

	t.Run("events", func(t *testing.T) {
		since := time.Now().Add(-time.Second)
		out, _, code := docker(t, d, "run", "-d", "--name", "e2e-cli-events", img, "sh", "-c", "exit 5")
		id := strings.TrimSpace(out)
		if code != 0 {
			t.Fatalf("docker run -d exited %d", code)
		}
		waitState(t, c, id, container.StateExited, 10*time.Second)
		if _, _, code := docker(t, d, "rm", "e2e-cli-events"); code != 0 {
			t.Fatalf("docker rm exited %d", code)
		}
		until := time.Now().Add(100 * time.Millisecond)
		time.Sleep(200 * time.Millisecond)
		out, _, code = docker(t, d, "events", "--since", unixNano(since), "--until", unixNano(until),
			"--filter", "container="+id, "--format", "{{json .}}")
		if code != 0 {
			t.Fatalf("docker events exited %d", code)
		}
		var got []string
		var dieCode string
		if strings.TrimSpace(out) == "" {
			t.Errorf("docker events --since --until --filter container=ID printed nothing")
			diagnoseEvents(t, c, since, make(client.Filters).Add("container", id))
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var m struct {
				Type   string
				Action string
				Actor  struct {
					ID         string
					Attributes map[string]string
				}
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("docker events line %q: %v", line, err)
			}
			if m.Type != "container" || m.Actor.ID != id {
				t.Errorf("event %q for another object with filter container=%s", line, id)
			}
			if m.Action == "die" {
				dieCode = m.Actor.Attributes["exitCode"]
			}
			if m.Actor.Attributes["name"] != "e2e-cli-events" {
				t.Errorf("event %s has name attribute %q, want e2e-cli-events", m.Action, m.Actor.Attributes["name"])
			}
			got = append(got, m.Action)
		}
		if !containsInOrder(got, []string{"create", "start", "die", "destroy"}) {
			t.Errorf("events %v, want create, start, die, destroy in that order", got)
		}
		if dieCode != "5" {
			t.Errorf("die event exitCode %q, want 5", dieCode)
		}
		// The default format, as a user sees it.
		out, _, _ = docker(t, d, "events", "--since", unixNano(since), "--until", unixNano(until), "--filter", "container=e2e-cli-events", "--filter", "event=die")
		if !regexp.MustCompile(`(?m)^\S+ container die ` + id + ` \(.*exitCode=5.*\)$`).MatchString(out) {
			t.Errorf("docker events (default format, filtered by name and event) = %q, want one die line with exitCode=5", out)
		}
	})
}
