package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestImportFile(t *testing.T) {
	e := newFakeEngine()
	host := serve(t, e)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	body := []byte("not really a tar, the fake does not care")
	if err := os.WriteFile(tarball, body, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := berth(t, host, "import", "-c", `CMD ["sh","-c","echo a,b"]`, "--change", "ENV A=1", tarball, "busybox:demo")
	if code != 0 {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	id := fmt.Sprintf("sha256:%x", sha256.Sum256(body))
	if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != id {
		t.Fatalf("stdout %q, want the id %s last", out, id)
	}
	// The whole reference goes in repo (the daemon splits the tag), and a
	// change with commas is not split into several.
	want := `import busybox:demo  ["CMD [\"sh\",\"-c\",\"echo a,b\"]" "ENV A=1"]`
	if got := e.callList(); got != want {
		t.Fatalf("calls = %s\nwant    %s", got, want)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !bytes.Equal(e.imported, body) {
		t.Fatalf("body = %q", e.imported)
	}
	if len(e.ctypes) != 1 || e.ctypes[0] != "application/x-tar" {
		t.Fatalf("Content-Type = %q", e.ctypes)
	}
}

func TestImportStdinAndErrors(t *testing.T) {
	e := newFakeEngine()
	host := serve(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := runMain(ctx, []string{"berth", "-H", host, "import", "-"}, strings.NewReader("from stdin"), &out, &errOut)
	if id := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("from stdin"))); code != 0 || !strings.HasSuffix(out.String(), id+"\n") {
		t.Fatalf("exit %d stdout %q stderr %q", code, out.String(), errOut.String())
	}
	if got := e.callList(); got != "import   []" {
		t.Fatalf("calls = %q", got)
	}

	for _, args := range [][]string{
		{"import"},
		{"import", "a", "b", "c"},
		{"import", filepath.Join(t.TempDir(), "missing.tar")},
		{"import", "-", "Not/Valid:Reference:x"},
	} {
		if code, _, errOut := berth(t, host, args...); code != 1 || errOut == "" {
			t.Errorf("%q: exit %d stderr %q", args, code, errOut)
		}
	}
	if got := e.callList(); got != "import   []" {
		t.Fatalf("failed imports reached the engine: %q", got)
	}
}
