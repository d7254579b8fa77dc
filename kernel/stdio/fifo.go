// Package stdio owns container stdio in the kernel: the FIFOs the runtime's
// shim writes the container's output into and reads its input from, and the
// Copier that drains output to attach clients and the log sink.
//
// Lifecycle: Create makes <dir>/<id>/init-{stdin,stdout,stderr} and opens
// them before runtime.Create; NewCopier starts draining at once, with or
// without clients; after the exit, Copier.Close drains what is left (bounded)
// and Remove deletes the FIFOs. At daemon shutdown Copier.Detach closes the
// kernel's ends without draining: the shim keeps its ends, so output waits in
// the pipe (raised to 1 MiB) until the next berthd calls Open and a new
// Copier.
//
// Each output FIFO is opened twice: a non-blocking reader (served by Go's
// poller, so reads block the goroutine, not a thread, and honour deadlines),
// then a writer "keeper" that stops the reader from seeing EOF before the
// shim has opened its end or between task restarts. Close drops the keeper,
// so the reader sees EOF once the shim has closed its end too.
package stdio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// PipeSize is the pipe buffer size requested for every FIFO: this much output
// can wait while berthd is down before the container blocks on a write.
const PipeSize = 1 << 20

// File names of the init process's FIFOs inside <dir>/<id>.
const (
	StdinName  = "init-stdin"
	StdoutName = "init-stdout"
	StderrName = "init-stderr"
)

// FIFOs holds the kernel's open ends of one container's stdio FIFOs. Stdin
// is nil without stdin and Stderr is nil with a terminal (the terminal merges
// stderr into stdout).
type FIFOs struct {
	Dir    string
	TTY    bool
	Stdin  *os.File // write end (opened O_RDWR so opening never blocks)
	Stdout *os.File // read end
	Stderr *os.File // read end

	keepers []*os.File // write ends that hold off EOF on Stdout/Stderr
}

// Create makes the FIFOs of container id under dir (mode 0700 for the
// directory, 0600 for the FIFOs; existing FIFOs are reused) and opens them.
func Create(dir, id string, stdin, tty bool) (*FIFOs, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	cdir := filepath.Join(dir, id)
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		return nil, fmt.Errorf("create stdio dir: %w", err)
	}
	for _, name := range names(stdin, tty) {
		p := filepath.Join(cdir, name)
		if err := unix.Mkfifo(p, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("mkfifo %s: %w", p, err)
		}
	}
	return Open(dir, id, stdin, tty)
}

// Open opens existing FIFOs of container id, as at restore. Data the shim
// wrote while no berthd had them open is still in the pipes.
func Open(dir, id string, stdin, tty bool) (_ *FIFOs, err error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	f := &FIFOs{Dir: filepath.Join(dir, id), TTY: tty}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	for _, name := range names(stdin, tty) {
		p := filepath.Join(f.Dir, name)
		st, err := os.Lstat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("open stdio of %s: %s: %w", id, name, errdefs.ErrNotFound)
			}
			return nil, fmt.Errorf("open stdio: %w", err)
		}
		if st.Mode().Type() != fs.ModeNamedPipe {
			return nil, fmt.Errorf("open stdio: %s is not a FIFO: %w", p, errdefs.ErrInvalidArgument)
		}
		if name == StdinName {
			// O_RDWR: a write-only open would fail (ENXIO) or block until the
			// shim opens its read end.
			if f.Stdin, err = os.OpenFile(p, os.O_RDWR|syscall.O_NONBLOCK, 0); err != nil {
				return nil, fmt.Errorf("open %s: %w", p, err)
			}
			if err := setPipeSize(f.Stdin); err != nil {
				return nil, err
			}
			continue
		}
		r, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		if name == StdoutName {
			f.Stdout = r
		} else {
			f.Stderr = r
		}
		// With a reader open, a non-blocking write-only open succeeds.
		w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s for writing: %w", p, err)
		}
		f.keepers = append(f.keepers, w)
		if err := setPipeSize(r); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Stdio returns the FIFO paths in the form the runtime plugin takes.
func (f *FIFOs) Stdio() runtime.Stdio {
	s := runtime.Stdio{Terminal: f.TTY}
	if f.Stdin != nil {
		s.Stdin = f.Stdin.Name()
	}
	if f.Stdout != nil {
		s.Stdout = f.Stdout.Name()
	}
	if f.Stderr != nil {
		s.Stderr = f.Stderr.Name()
	}
	return s
}

// releaseKeepers closes the kernel's write ends of stdout/stderr, so readers
// see EOF once the shim's ends are closed.
func (f *FIFOs) releaseKeepers() {
	for _, k := range f.keepers {
		k.Close()
	}
	f.keepers = nil
}

// Close closes every end the kernel holds. The FIFOs stay on disk.
func (f *FIFOs) Close() error {
	f.releaseKeepers()
	var errs []error
	for _, file := range []*os.File{f.Stdin, f.Stdout, f.Stderr} {
		if file != nil {
			if err := file.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Remove deletes the FIFO directory of container id.
func Remove(dir, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(dir, id)); err != nil {
		return fmt.Errorf("remove stdio of %s: %w", id, err)
	}
	return nil
}

func names(stdin, tty bool) []string {
	var n []string
	if stdin {
		n = append(n, StdinName)
	}
	n = append(n, StdoutName)
	if !tty {
		n = append(n, StderrName)
	}
	return n
}

func validID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("invalid container id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

// setPipeSize raises the pipe buffer to PipeSize. Without CAP_SYS_RESOURCE
// the kernel refuses sizes above /proc/sys/fs/pipe-max-size (EPERM); then
// the maximum allowed is used. A pipe already larger stays as it is.
func setPipeSize(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("pipe size of %s: %w", f.Name(), err)
	}
	var opErr error
	ctlErr := rc.Control(func(fd uintptr) {
		cur, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0)
		if err == nil && cur >= PipeSize {
			return
		}
		_, opErr = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, PipeSize)
		if errors.Is(opErr, unix.EPERM) {
			max, err := pipeMaxSize()
			if err != nil || max <= cur {
				opErr = nil // keep the current size
				return
			}
			_, opErr = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, max)
		}
	})
	if ctlErr != nil {
		return fmt.Errorf("pipe size of %s: %w", f.Name(), ctlErr)
	}
	if opErr != nil {
		return fmt.Errorf("set pipe size of %s: %w", f.Name(), opErr)
	}
	return nil
}

func pipeMaxSize() (int, error) {
	b, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// PipeSizeOf returns the pipe buffer size of an open FIFO end.
func PipeSizeOf(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var opErr error
	if err := rc.Control(func(fd uintptr) { n, opErr = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) }); err != nil {
		return 0, err
	}
	return n, opErr
}
