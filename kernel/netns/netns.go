// Package netns creates and removes the kernel's network namespaces: one
// bind-mounted namespace file per container, made before the network plugin
// joins it and removed after it leaves. The runtime joins it by path.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Create makes a new network namespace with its loopback interface up and
// bind-mounts it on path (created, 0444). The namespace lives as long as the
// mount, whatever happens to the process that made it.
func Create(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("netns: create %s: %w", path, err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()

	errc := make(chan error, 1)
	// A thread that unshares its network namespace is never handed back to
	// the Go scheduler: it exits with the goroutine (LockOSThread without
	// Unlock), so no other goroutine ever runs in the new namespace.
	go func() {
		runtime.LockOSThread()
		errc <- unshareAndBind(path)
	}()
	return <-errc
}

func unshareAndBind(path string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns: unshare: %w", err)
	}
	self := "/proc/thread-self/ns/net"
	if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("netns: bind %s: %w", path, err)
	}
	if err := loopbackUp(); err != nil {
		unix.Unmount(path, unix.MNT_DETACH)
		return err
	}
	return nil
}

// loopbackUp sets IFF_UP on lo in the calling thread's namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns: socket: %w", err)
	}
	defer unix.Close(fd)
	req, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, req); err != nil {
		return fmt.Errorf("netns: get lo flags: %w", err)
	}
	req.SetUint16(req.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, req); err != nil {
		return fmt.Errorf("netns: set lo up: %w", err)
	}
	return nil
}

// Remove unmounts and deletes a namespace file made by Create. A missing file
// is not an error, so Remove can be repeated after a crash.
func Remove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns: unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns: remove %s: %w", path, err)
	}
	return nil
}
