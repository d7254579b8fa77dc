package kernel

import (
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-dev/berth/kernel/container"
	"github.com/berth-dev/berth/kernel/stdio"
)

// containerIO is the kernel's side of one container's stdio: its FIFOs, the
// copier draining them, and the attach clients that arrived before start
// (the docker CLI attaches before it starts). Start attaches those clients
// to the copier before the process runs, so they get every byte.
type containerIO struct {
	mu       sync.Mutex
	fifos    *stdio.FIFOs
	copier   *stdio.Copier
	pending  []*attachRequest
	finished bool
}

// attachRequest is one attach client waiting for (or holding) output.
type attachRequest struct {
	stdout, stderr io.Writer
	ready          chan struct{} // closed when att is set, or when it never will be
	att            *stdio.Attachment
	copier         *stdio.Copier
}

// ioFor returns the container's containerIO, making an empty one for an
// attach that comes before start.
func (d *Daemon) ioFor(id string) *containerIO {
	d.ioMu.Lock()
	defer d.ioMu.Unlock()
	cio := d.io[id]
	if cio == nil {
		cio = &containerIO{}
		d.io[id] = cio
	}
	return cio
}

// openIO creates (create=true, at start) or reopens (at restore) the FIFOs
// of c. The copier starts later, with startCopier.
func (d *Daemon) openIO(c *container.Container, create bool) (*containerIO, error) {
	stdin := c.Config != nil && c.Config.OpenStdin
	tty := c.Config != nil && c.Config.Tty
	var (
		f   *stdio.FIFOs
		err error
	)
	if create {
		f, err = stdio.Create(d.stdioDir(), c.ID, stdin, tty)
	} else {
		f, err = stdio.Open(d.stdioDir(), c.ID, stdin, tty)
	}
	if err != nil {
		return nil, err
	}
	cio := d.ioFor(c.ID)
	cio.mu.Lock()
	if cio.copier != nil { // a previous run's copier that was not closed
		old := cio.copier
		cio.copier = nil
		cio.mu.Unlock()
		_ = old.Close(0)
		cio.mu.Lock()
	}
	cio.fifos = f
	cio.finished = false
	cio.mu.Unlock()
	return cio, nil
}

// paths returns the FIFO paths for the record.
func (cio *containerIO) paths() container.StdioPaths {
	cio.mu.Lock()
	defer cio.mu.Unlock()
	if cio.fifos == nil {
		return container.StdioPaths{}
	}
	s := cio.fifos.Stdio()
	return container.StdioPaths{Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr}
}

// startCopier starts draining the FIFOs and hands the waiting attach clients
// to the copier.
func (cio *containerIO) startCopier(log *slog.Logger) {
	cio.mu.Lock()
	defer cio.mu.Unlock()
	if cio.copier != nil || cio.fifos == nil {
		return
	}
	cio.copier = stdio.NewCopier(cio.fifos, nil)
	for _, p := range cio.pending {
		p.att = cio.copier.Attach(p.stdout, p.stderr)
		p.copier = cio.copier
		close(p.ready)
	}
	cio.pending = nil
}

// attach connects a client: at once when output flows, else when it starts.
func (cio *containerIO) attach(stdout, stderr io.Writer) *attachRequest {
	p := &attachRequest{stdout: stdout, stderr: stderr, ready: make(chan struct{})}
	cio.mu.Lock()
	defer cio.mu.Unlock()
	switch {
	case cio.copier != nil:
		p.att = cio.copier.Attach(stdout, stderr)
		p.copier = cio.copier
		close(p.ready)
	case cio.finished:
		close(p.ready)
	default:
		cio.pending = append(cio.pending, p)
	}
	return p
}

// cancel withdraws a request that is still waiting for start.
func (cio *containerIO) cancel(p *attachRequest) {
	cio.mu.Lock()
	defer cio.mu.Unlock()
	for i, q := range cio.pending {
		if q == p {
			cio.pending = append(cio.pending[:i], cio.pending[i+1:]...)
			close(p.ready)
			return
		}
	}
}

// finish ends the output: the copier drains for up to timeout, attachments
// end, and waiting attach requests are released without output.
func (cio *containerIO) finish(timeout time.Duration) {
	cio.mu.Lock()
	c := cio.copier
	f := cio.fifos
	cio.copier, cio.fifos = nil, nil
	cio.finished = true
	pending := cio.pending
	cio.pending = nil
	cio.mu.Unlock()
	for _, p := range pending {
		close(p.ready)
	}
	if c != nil {
		_ = c.Close(timeout)
	} else if f != nil {
		_ = f.Close()
	}
}

// detach stops copying without draining, for a shutdown that leaves the
// container running.
func (cio *containerIO) detach() {
	cio.mu.Lock()
	c := cio.copier
	f := cio.fifos
	cio.copier, cio.fifos = nil, nil
	cio.mu.Unlock()
	if c != nil {
		_ = c.Detach()
	} else if f != nil {
		_ = f.Close()
	}
}

// closeIO finishes and forgets a container's stdio.
func (d *Daemon) closeIO(id string, timeout time.Duration) {
	d.ioMu.Lock()
	cio := d.io[id]
	delete(d.io, id)
	d.ioMu.Unlock()
	if cio != nil {
		cio.finish(timeout)
	}
}
