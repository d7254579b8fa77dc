package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPluginTestArguments(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "plain")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plugin", "test"}, "requires exactly 1 argument"},
		{[]string{"plugin", "test", "a", "b"}, "requires exactly 1 argument"},
		{[]string{"plugin", "test", "--kind", "volume", "/bin/true"}, `invalid --kind "volume"`},
		{[]string{"plugin", "test", "--config", `{"a":1}`, "/bin/true"}, "invalid --config"},
		{[]string{"plugin", "test", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"plugin", "test", dir}, "not an executable file"},
		{[]string{"plugin", "test", notExec}, "not an executable file"},
		{[]string{"plugin", "test", "--module", dir, "/bin/true"}, "is not in a Go module"},
	} {
		code, _, errOut := berth(t, "unix:///nonexistent", tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestPluginTestWithoutGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	code, _, errOut := berth(t, "unix:///nonexistent", "plugin", "test", "/bin/true")
	if code != 1 || !strings.Contains(errOut, "the go tool is not installed") {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
}

// TestPluginTestBogusBinary really runs the runtime suite (go test) against
// a binary that is no plugin: the suite must fail, and so must berth.
func TestPluginTestBogusBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs the conformance suite")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("the runtime suite skips without root")
	}
	// The package directory is inside the berth module.
	// A cold build cache makes go test slow: more time than berth() gives.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := runMain(ctx, []string{"berth", "plugin", "test", "--run", "^Base$", "/bin/true"}, strings.NewReader(""), &stdout, &stderr)
	out, errOut := stdout.String(), stderr.String()
	if code == 0 {
		t.Fatalf("bogus plugin passed:\n%s\n%s", out, errOut)
	}
	if !strings.Contains(out, "--- FAIL: TestBinary") || !strings.Contains(out, "start plugin") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

func TestSkipWatcher(t *testing.T) {
	for out, want := range map[string]bool{
		"=== RUN   TestBinary\n--- SKIP: TestBinary (0.00s)\n    binary_test.go:18: x\nPASS\n":                         true,
		"--- PASS: TestBinary (0.01s)\n    --- SKIP: TestBinary/Base (0.00s)\n    --- SKIP: TestBinary/Exec (0.00s)\n": true,
		"--- PASS: TestBinary (0.01s)\n    --- SKIP: TestBinary/Base (0.00s)\n    --- PASS: TestBinary/Exec (0.00s)\n": false,
		"--- FAIL: TestBinary (0.01s)\n    --- FAIL: TestBinary/Base (0.00s)\n":                                        false,
		"ok  \tgithub.com/berth-dev/berth/plugin-tests/runtime\t0.1s\n":                                                false,
	} {
		w := &skipWatcher{}
		// Split writes mid-line, as a pipe may.
		for i := 0; i < len(out); i += 7 {
			_, _ = w.Write([]byte(out[i:min(i+7, len(out))]))
		}
		if w.skipped() != want {
			t.Errorf("skipped() = %v for\n%s", !want, out)
		}
	}
}
