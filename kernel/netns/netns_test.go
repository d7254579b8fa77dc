package netns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCreateRemove(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	path := filepath.Join(t.TempDir(), "ns1")
	if err := Create(path); err != nil {
		t.Fatal(err)
	}
	var host, ns unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &host); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(path, &ns); err != nil {
		t.Fatal(err)
	}
	if host.Ino == ns.Ino {
		t.Fatal("namespace file points at the host's network namespace")
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(mi), path) {
		t.Fatalf("%s is not a mount point", path)
	}
	if err := Create(path); err == nil {
		t.Fatal("second Create on the same path succeeded")
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("file still there: %v", err)
	}
	mi, _ = os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), path) {
		t.Fatal("mount left behind")
	}
	if err := Remove(path); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}
