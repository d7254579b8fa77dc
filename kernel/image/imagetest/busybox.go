// Package imagetest builds small real images for tests, `make demo` and the
// end-to-end suite: a busybox root filesystem made from the host's static
// busybox, and an in-process registry on loopback to push it to, so that
// pulls go through a real registry protocol without the internet.
package imagetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"
)

// BusyboxPath is the static busybox binary the root filesystem is built
// from (Debian's busybox-static package).
var BusyboxPath = "/usr/bin/busybox"

// BusyboxApplets are the commands linked to busybox in /bin.
var BusyboxApplets = []string{
	"sh", "ash", "echo", "true", "false", "sleep", "cat", "ls", "env", "id",
	"ps", "top", "wc", "hostname", "mkdir", "rm", "touch", "pwd", "grep",
	"head", "tail", "date", "uname", "whoami", "kill", "mount", "ping",
	"ip", "ifconfig", "nc", "wget", "test", "[", "printf", "stat", "du",
	"df", "chmod", "chown", "cp", "mv", "ln", "sed", "tr", "seq", "yes",
	"nslookup", "sort", "uniq", "find", "xargs", "tee", "vi", "dd", "free",
}

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group  = "root:x:0:\nnogroup:x:65534:\n"
)

// modTime is fixed so that the tar, and so the image digest, is the same on
// every run with the same busybox binary.
var modTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// BusyboxRootfs writes an uncompressed tar of a minimal root filesystem:
// bin/busybox with symlinks for BusyboxApplets, /etc/passwd (root and
// nobody), /etc/group, /etc/hostname, /tmp (1777), /root, and empty mount
// points /proc, /sys, /dev.
func BusyboxRootfs(w io.Writer) error {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("busybox rootfs: %w", err)
	}
	tw := tar.NewWriter(w)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: modTime, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: modTime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin", 0o755}, {"etc", 0o755}, {"root", 0o700}, {"tmp", 0o1777}, {"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"usr", 0o755}, {"usr/bin", 0o755}, {"var", 0o755}} {
		if err := dir(d.name, d.mode); err != nil {
			return err
		}
	}
	if err := file("bin/busybox", 0o755, bin); err != nil {
		return err
	}
	for _, a := range BusyboxApplets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: modTime, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name, data string
	}{{"etc/passwd", passwd}, {"etc/group", group}, {"etc/hostname", "busybox\n"}} {
		if err := file(f.name, 0o644, []byte(f.data)); err != nil {
			return err
		}
	}
	return tw.Close()
}

// BusyboxRootfsBytes returns BusyboxRootfs as bytes.
func BusyboxRootfsBytes() ([]byte, error) {
	var buf bytes.Buffer
	if err := BusyboxRootfs(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
