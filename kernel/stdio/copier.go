package stdio

import (
	"bytes"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"os"
	"runtime"
	"sync"
	"time"
)

// LogSink receives the container's output line by line. stream is "stdout"
// or "stderr"; line keeps its trailing '\n' when it had one, and a line
// without one is partial (longer than MaxLine, or cut by the end of the
// stream). line is only valid during the call. Write is called from the
// copier's goroutine for that stream: a sink that blocks stalls the
// container's output, as a blocking log driver does in dockerd.
type LogSink interface {
	Write(stream string, line []byte, t time.Time)
}

// MaxLine is the longest line handed to a LogSink in one piece (dockerd's
// 16 KiB log buffer); longer lines arrive as several partial pieces.
const MaxLine = 16 * 1024

// DefaultClientBuffer is how many bytes may wait for one attach client
// before it is checked for being stuck. While it keeps completing writes it
// may fall further behind, up to maxBehind times this, never more.
const DefaultClientBuffer = 1 << 20

// maxBehind bounds a progressing client's backlog, in client buffers: a
// memory-speed burst from a full pipe can outrun any client for a moment.
const maxBehind = 16

// DefaultClientStall is how long a client over its buffer may go without
// completing a write before it is dropped.
const DefaultClientStall = time.Second

// ErrSlowClient ends an attachment whose client did not keep up.
var ErrSlowClient = errors.New("attach client too slow: output dropped")

// NopSink discards output: the `none` log driver.
type NopSink struct{}

// Write discards line.
func (NopSink) Write(string, []byte, time.Time) {}

// LogEntry is one line kept by a MemorySink.
type LogEntry struct {
	Stream string
	Line   []byte
	Time   time.Time
}

// MemorySink keeps every line in memory; for tests and until the log plugin
// is plugged in.
type MemorySink struct {
	mu      sync.Mutex
	entries []LogEntry
}

// Write records a copy of line.
func (s *MemorySink) Write(stream string, line []byte, t time.Time) {
	s.mu.Lock()
	s.entries = append(s.entries, LogEntry{Stream: stream, Line: bytes.Clone(line), Time: t})
	s.mu.Unlock()
}

// Entries returns the lines recorded so far.
func (s *MemorySink) Entries() []LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LogEntry(nil), s.entries...)
}

// Copier drains a container's stdout and stderr FIFOs from the moment it is
// made until Close or Detach, whether or not anyone is attached, and fans the
// output out to the attachments and the log sink. It also writes attach
// clients' input into the stdin FIFO.
type Copier struct {
	fifos        *FIFOs
	sink         LogSink
	clientBuffer int
	clientStall  time.Duration

	mu       sync.Mutex
	attached map[*Attachment]struct{}
	finished bool

	stdinMu     sync.Mutex
	stdinClosed bool

	wg        sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// CopierOption adjusts a Copier.
type CopierOption func(*Copier)

// WithClientBuffer sets how many bytes may wait for one attach client before
// it is checked for being stuck (DefaultClientBuffer otherwise).
func WithClientBuffer(n int) CopierOption {
	return func(c *Copier) { c.clientBuffer = n }
}

// WithClientStall sets how long a client over its buffer may go without
// progress before it is dropped (DefaultClientStall otherwise).
func WithClientStall(d time.Duration) CopierOption {
	return func(c *Copier) { c.clientStall = d }
}

// NewCopier starts draining f into sink (nil means NopSink). The Copier owns
// f from now on and closes it in Close or Detach.
func NewCopier(f *FIFOs, sink LogSink, opts ...CopierOption) *Copier {
	if sink == nil {
		sink = NopSink{}
	}
	c := &Copier{
		fifos:        f,
		sink:         sink,
		clientBuffer: DefaultClientBuffer,
		clientStall:  DefaultClientStall,
		attached:     make(map[*Attachment]struct{}),
		done:         make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	if f.Stdout != nil {
		c.wg.Add(1)
		go c.drain(f.Stdout, StreamStdout, "stdout")
	}
	if f.Stderr != nil {
		c.wg.Add(1)
		go c.drain(f.Stderr, StreamStderr, "stderr")
	}
	go func() {
		c.wg.Wait()
		c.finish()
		close(c.done)
	}()
	return c
}

// Done is closed when both output streams have ended (EOF after Close, or
// Close's timeout, or Detach) and every attachment has been told.
func (c *Copier) Done() <-chan struct{} { return c.done }

// drain reads one output FIFO until EOF or a deadline and dispatches it.
func (c *Copier) drain(r *os.File, stream byte, name string) {
	defer c.wg.Done()
	buf := make([]byte, 32*1024)
	var line []byte // pending partial line for the sink
	for {
		n, err := r.Read(buf)
		if n > 0 {
			now := time.Now()
			data := buf[:n]
			c.broadcast(stream, data)
			line = c.toSink(name, line, data, now)
		}
		if err != nil {
			break // io.EOF, deadline exceeded, or closed
		}
	}
	if len(line) > 0 {
		c.sink.Write(name, line, time.Now())
	}
}

// toSink hands complete lines of pending+data to the sink and returns the
// unfinished rest.
func (c *Copier) toSink(name string, pending, data []byte, now time.Time) []byte {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			pending = append(pending, data...)
			for len(pending) >= MaxLine {
				c.sink.Write(name, pending[:MaxLine], now)
				pending = append(pending[:0], pending[MaxLine:]...)
			}
			return pending
		}
		chunk := data[:i+1]
		data = data[i+1:]
		if len(pending) == 0 {
			c.emitLine(name, chunk, now)
			continue
		}
		pending = append(pending, chunk...)
		c.emitLine(name, pending, now)
		pending = pending[:0]
	}
	return pending
}

func (c *Copier) emitLine(name string, line []byte, now time.Time) {
	for len(line) > MaxLine {
		c.sink.Write(name, line[:MaxLine], now)
		line = line[MaxLine:]
	}
	c.sink.Write(name, line, now)
}

func (c *Copier) broadcast(stream byte, data []byte) {
	behind := false
	c.mu.Lock()
	for a := range c.attached {
		ok, over := a.enqueue(stream, data)
		if !ok {
			delete(c.attached, a)
		}
		behind = behind || over
	}
	c.mu.Unlock()
	if behind {
		// A woken client goroutine waits in this P's run queue while this
		// loop, fed by a full pipe, never blocks; yield so it gets to run
		// instead of being dropped for a burst.
		runtime.Gosched()
	}
}

// finish ends every attachment once output is over; they still flush what
// they hold.
func (c *Copier) finish() {
	c.mu.Lock()
	c.finished = true
	for a := range c.attached {
		a.end(nil)
		delete(c.attached, a)
	}
	c.mu.Unlock()
}

// Attach adds a client that receives output from now on: stdout and stderr
// are written to the given writers (nil means not wanted). With a tty there
// is no stderr stream. Pass NewMuxWriter(conn, StreamStdout/StreamStderr)
// for a non-tty client and the raw conn for a tty one; the attachment's
// single goroutine does all writes, so both may wrap the same conn.
func (c *Copier) Attach(stdout, stderr io.Writer) *Attachment {
	a := &Attachment{
		stdout: stdout,
		stderr: stderr,
		limit:  c.clientBuffer,
		stall:  c.clientStall,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	a.detach = func() {
		c.mu.Lock()
		delete(c.attached, a)
		c.mu.Unlock()
	}
	go a.run()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		a.end(nil)
		return a
	}
	c.attached[a] = struct{}{}
	return a
}

// CopyStdin copies r into the container's stdin until r ends; with
// closeOnEOF (the container's StdinOnce) it then closes stdin, which the
// process sees as EOF. It returns when r ends or a write fails.
func (c *Copier) CopyStdin(r io.Reader, closeOnEOF bool) error {
	if c.fifos.Stdin == nil {
		return errors.New("container has no stdin")
	}
	buf := make([]byte, 32*1024)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := c.writeStdin(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			if closeOnEOF {
				return c.CloseStdin()
			}
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read attach stdin: %w", rerr)
		}
	}
}

func (c *Copier) writeStdin(p []byte) error {
	c.stdinMu.Lock()
	defer c.stdinMu.Unlock()
	if c.stdinClosed {
		return fmt.Errorf("write stdin: %w", os.ErrClosed)
	}
	if _, err := c.fifos.Stdin.Write(p); err != nil {
		return fmt.Errorf("write stdin: %w", err)
	}
	return nil
}

// WaitStdinDrained waits until the shim has read everything written to the
// stdin FIFO, or timeout passes. The shim keeps the FIFO open for writing
// itself, so closing the kernel's end never shows as EOF; the process's
// stdin is closed through the runtime (CloseStdin), which must not come
// before the shim has copied the data.
func (c *Copier) WaitStdinDrained(timeout time.Duration) {
	c.stdinMu.Lock()
	f := c.fifos.Stdin
	closed := c.stdinClosed
	c.stdinMu.Unlock()
	if f == nil || closed {
		return
	}
	raw, err := f.SyscallConn()
	if err != nil {
		return
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n := 0
		_ = raw.Control(func(fd uintptr) { n, err = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
		if err != nil || n == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// CloseStdin closes the kernel's end of the stdin FIFO.
func (c *Copier) CloseStdin() error {
	c.stdinMu.Lock()
	defer c.stdinMu.Unlock()
	if c.stdinClosed || c.fifos.Stdin == nil {
		return nil
	}
	c.stdinClosed = true
	return c.fifos.Stdin.Close()
}

// Close ends the copier after the container exited: it stops holding the
// FIFOs open for writing, reads what is left until EOF or until timeout
// passes, then closes its ends. The FIFOs stay on disk (Remove deletes
// them). Close is idempotent.
func (c *Copier) Close(timeout time.Duration) error {
	c.closeOnce.Do(func() {
		c.fifos.releaseKeepers()
		c.setDeadline(time.Now().Add(timeout))
		<-c.done
		c.closeErr = c.closeFiles()
	})
	return c.closeErr
}

// Detach stops copying at once without draining, for a daemon shutdown that
// leaves the container running: unread output stays in the pipes for the
// next berthd. Detach is idempotent, and Close after it does nothing.
func (c *Copier) Detach() error {
	c.closeOnce.Do(func() {
		c.setDeadline(time.Now())
		<-c.done
		c.closeErr = c.closeFiles()
	})
	return c.closeErr
}

func (c *Copier) setDeadline(t time.Time) {
	for _, f := range []*os.File{c.fifos.Stdout, c.fifos.Stderr} {
		if f != nil {
			_ = f.SetReadDeadline(t)
		}
	}
}

func (c *Copier) closeFiles() error {
	c.stdinMu.Lock()
	c.stdinClosed = true
	c.stdinMu.Unlock()
	return c.fifos.Close()
}

// Attachment is one attach client's view of the output.
type Attachment struct {
	stdout, stderr io.Writer
	limit          int
	stall          time.Duration
	detach         func()

	mu       sync.Mutex
	queue    []chunk
	queued   int
	inFlight bool      // run is writing a batch
	progress time.Time // last completed write, or when the client last became busy
	ended    bool
	err      error
	wake     chan struct{}
	done     chan struct{}
	once     sync.Once
}

type chunk struct {
	stream byte
	data   []byte
}

// Done is closed when the attachment is over: after the last output was
// written when the output ended; at once when the client is dropped as too
// slow or Close is called (a write may still be blocked on the client's
// connection: closing that connection ends it).
func (a *Attachment) Done() <-chan struct{} { return a.done }

func (a *Attachment) markDone() { a.once.Do(func() { close(a.done) }) }

// Err tells why the attachment ended: nil when the output ended, or
// ErrSlowClient, or the client's write error. Valid after Done.
func (a *Attachment) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Close removes the client; pending output is discarded.
func (a *Attachment) Close() {
	a.detach()
	a.mu.Lock()
	a.queue, a.queued = nil, 0
	a.mu.Unlock()
	a.end(nil)
	a.markDone()
}

// enqueue adds data for the client without blocking; ok false means the
// client is gone (dropped now for being slow, or ended before); over means
// it is behind by more than its buffer.
func (a *Attachment) enqueue(stream byte, data []byte) (ok, over bool) {
	w := a.stdout
	if stream == StreamStderr {
		w = a.stderr
	}
	a.mu.Lock()
	if a.ended {
		a.mu.Unlock()
		return false, false
	}
	if w == nil {
		a.mu.Unlock()
		return true, false
	}
	now := time.Now()
	if a.queued == 0 && !a.inFlight {
		a.progress = now
	}
	// Over the buffer, a client that still completes writes gets slack (a
	// burst outpaces any client for a moment); a stuck one, or one too far
	// behind, is dropped. The container is never made to wait.
	over = a.queued+len(data) > a.limit
	if (over && now.Sub(a.progress) > a.stall) || a.queued+len(data) > maxBehind*a.limit {
		a.queue, a.queued = nil, 0
		a.mu.Unlock()
		a.end(ErrSlowClient)
		a.markDone()
		return false, false
	}
	a.queue = append(a.queue, chunk{stream: stream, data: bytes.Clone(data)})
	a.queued += len(data)
	a.mu.Unlock()
	a.notify()
	return true, over
}

// end marks the attachment finished; run flushes what is queued and exits.
func (a *Attachment) end(err error) {
	a.mu.Lock()
	if !a.ended {
		a.ended = true
		a.err = err
	}
	a.mu.Unlock()
	a.notify()
}

func (a *Attachment) notify() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run writes queued output to the client until the attachment ends.
func (a *Attachment) run() {
	defer a.markDone()
	for {
		a.mu.Lock()
		q := a.queue
		a.queue, a.queued = nil, 0
		a.inFlight = len(q) > 0
		ended := a.ended
		a.mu.Unlock()
		for _, ch := range q {
			w := a.stdout
			if ch.stream == StreamStderr {
				w = a.stderr
			}
			_, err := w.Write(ch.data)
			a.mu.Lock()
			a.progress = time.Now()
			a.mu.Unlock()
			if err != nil {
				a.mu.Lock()
				a.ended = true
				if a.err == nil {
					a.err = fmt.Errorf("write to attach client: %w", err)
				}
				a.mu.Unlock()
				a.detach()
				return
			}
		}
		a.mu.Lock()
		a.inFlight = false
		a.mu.Unlock()
		if ended && len(q) == 0 {
			return
		}
		if !ended {
			<-a.wake
		}
	}
}
