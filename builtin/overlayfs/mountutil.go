package overlayfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/containerd/continuity/fs"
	"golang.org/x/sys/unix"
)

// overlayMount describes one overlay mount. Lowers and the upper/work
// directories are relative to the driver's home (e.g. "l/ABC", "<id>/diff"),
// which is what keeps deep chains short.
type overlayMount struct {
	home     string
	lowers   []string
	upper    string // "" for a read-only overlay
	work     string
	indexOff bool
}

// data renders the mount options, with each path joined to prefix.
func (m overlayMount) data(prefix string) string {
	join := func(p string) string {
		if prefix == "" {
			return p
		}
		return prefix + "/" + p
	}
	var opts []string
	if m.indexOff {
		opts = append(opts, "index=off")
	}
	lowers := make([]string, len(m.lowers))
	for i, l := range m.lowers {
		lowers[i] = join(l)
	}
	opts = append(opts, "lowerdir="+strings.Join(lowers, ":"))
	if m.upper != "" {
		opts = append(opts, "upperdir="+join(m.upper), "workdir="+join(m.work))
	}
	return strings.Join(opts, ",")
}

// mountAt mounts the overlay on target. Absolute paths are used when they
// fit in the one page of mount data the kernel copies; otherwise the paths
// stay relative and the mount is made from a thread whose working
// directory is home, so the process's own working directory never changes.
func (m overlayMount) mountAt(target string) error {
	var flags uintptr
	if m.upper == "" {
		flags = unix.MS_RDONLY
	}
	limit := os.Getpagesize() - 1
	if data := m.data(m.home); len(data) <= limit {
		if err := unix.Mount("overlay", target, "overlay", flags, data); err != nil {
			return fmt.Errorf("mount overlay on %s: %w", target, err)
		}
		return nil
	}
	data := m.data("")
	if len(data) > limit {
		return fmt.Errorf("mount overlay on %s: %d bytes of mount data exceed the page size", target, len(data))
	}
	if err := mountFrom(m.home, target, flags, data); err != nil {
		return fmt.Errorf("mount overlay on %s (relative to %s): %w", target, m.home, err)
	}
	return nil
}

// mountFrom runs mount(2) with dir as the working directory. The call runs
// on a locked OS thread that first unshares its filesystem context
// (CLONE_FS), so the chdir affects that thread alone; the thread is never
// unlocked, so the Go runtime discards it when the goroutine ends.
func mountFrom(dir, target string, flags uintptr, data string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			// Still sharing the process's context: the thread is clean.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare fs context: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		errc <- unix.Mount("overlay", target, "overlay", flags, data)
	}()
	return <-errc
}

// bindMount bind-mounts src on target, read-only unless rw.
func bindMount(src, target string, rw bool) error {
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", src, target, err)
	}
	if rw {
		return nil
	}
	// MS_RDONLY is ignored on the first bind; it takes a remount.
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("remount %s read-only: %w", target, err)
	}
	return nil
}

// unmountAll unmounts everything stacked on target. A plain unmount comes
// first; a busy one is detached (lazily unmounted) as the fallback, so the
// directory is free at once and the kernel finishes when the last user goes.
func unmountAll(target string) error {
	for range 16 {
		mounted, err := isMounted(target)
		if err != nil {
			return err
		}
		if !mounted {
			return nil
		}
		err = unix.Unmount(target, 0)
		switch {
		case err == nil, errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.EBUSY):
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("detach %s: %w", target, err)
			}
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted", target)
}

// mountPoints lists the mount points in /proc/self/mountinfo that are path
// or lie under it.
func mountPoints(path string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// Fields: id parent major:minor root mountpoint options ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == path || strings.HasPrefix(mp, path+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// isMounted reports whether something is mounted exactly on path.
func isMounted(path string) (bool, error) {
	mps, err := mountPoints(path)
	if err != nil {
		return false, err
	}
	for _, mp := range mps {
		if mp == path {
			return true, nil
		}
	}
	return false, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// probeOverlay mounts a small overlay (two lowers, an upper) in scratch to
// prove that the kernel and the backing filesystem support it, and reports
// whether the index=off option is accepted.
func probeOverlay(scratch string) (indexOff bool, err error) {
	dir, err := os.MkdirTemp(scratch, "probe-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	for _, sub := range []string{"l1", "l2", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return false, err
		}
	}
	m := overlayMount{home: dir, lowers: []string{"l1", "l2"}, upper: "upper", work: "work", indexOff: true}
	target := filepath.Join(dir, "merged")
	if err := m.mountAt(target); err != nil {
		m.indexOff = false
		if err2 := m.mountAt(target); err2 != nil {
			return false, err2
		}
	}
	if err := unmountAll(target); err != nil {
		return false, err
	}
	return m.indexOff, nil
}

// cleanScratch unmounts what a previous process left mounted in scratch
// (Diff's base views) and empties it. Removal never crosses a mount point.
func cleanScratch(scratch string) error {
	mps, err := mountPoints(scratch)
	if err != nil {
		return err
	}
	// Deepest first, so stacked and nested mounts come off in order.
	for i := len(mps) - 1; i >= 0; i-- {
		if err := unmountAll(mps[i]); err != nil {
			return err
		}
	}
	if mps, err = mountPoints(scratch); err != nil {
		return err
	} else if len(mps) > 0 {
		return fmt.Errorf("%s is still mounted", mps[0])
	}
	entries, err := os.ReadDir(scratch)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(scratch, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// backingFS names the filesystem under path the way `docker info` does.
func backingFS(path string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "", fmt.Errorf("statfs %s: %w", path, err)
	}
	switch int64(st.Type) {
	case unix.EXT4_SUPER_MAGIC:
		return "extfs", nil
	case unix.XFS_SUPER_MAGIC:
		return "xfs", nil
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs", nil
	case unix.TMPFS_MAGIC:
		return "tmpfs", nil
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs", nil
	case 0x2fc12fc1:
		return "zfs", nil
	case unix.NFS_SUPER_MAGIC:
		return "nfs", nil
	case unix.F2FS_SUPER_MAGIC:
		return "f2fs", nil
	default:
		return fmt.Sprintf("<unknown 0x%x>", st.Type), nil
	}
}

// supportsDType reports whether readdir on path returns file types, which
// overlay needs to find whiteouts.
func supportsDType(path string) (bool, error) {
	return fs.SupportsDType(path)
}
