package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/moby/api/types"
	"golang.org/x/sys/unix"
)

// containerAttach hijacks the connection (lazily: only once the container
// side has accepted the request, so 404/409 stay plain HTTP errors) and
// hands the container side its ends of it.
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request, name string) error {
	c, err := s.containers()
	if err != nil {
		return err
	}
	opts := AttachOptions{
		Stdin:      boolValue(r, "stdin"),
		Stdout:     boolValue(r, "stdout"),
		Stderr:     boolValue(r, "stderr"),
		Stream:     boolValue(r, "stream"),
		Logs:       boolValue(r, "logs"),
		DetachKeys: r.URL.Query().Get("detachKeys"),
	}
	upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "tcp") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
	multiplexOK := !versionLess(apiVersion(r.Context()), "1.42")

	var sess *attachSession
	open := func(tty bool) (*AttachStreams, error) {
		if sess != nil {
			return nil, errors.New("attach streams opened twice")
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return nil, fmt.Errorf("hijack connection: %w", err)
		}
		if rec, ok := w.(*recorder); ok {
			rec.hijacked = true
		}
		sess = newAttachSession(conn, brw.Reader, tty)
		mediaType := types.MediaTypeRawStream
		if !tty && multiplexOK {
			mediaType = types.MediaTypeMultiplexedStream
		}
		head := "HTTP/1.1 200 OK\r\nContent-Type: " + types.MediaTypeRawStream + "\r\n\r\n"
		if upgrade {
			head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + mediaType + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
		}
		if _, err := sess.out.Write([]byte(head)); err != nil {
			sess.close()
			return nil, fmt.Errorf("write upgrade response: %w", err)
		}
		return sess.streams(opts), nil
	}
	err = c.Attach(r.Context(), name, opts, open)
	if sess == nil {
		return err
	}
	if err != nil {
		s.cfg.Logger.Warn("attach ended with error", "container", name, "err", err)
		sess.writeError(messageOf(err))
	}
	sess.close()
	return nil
}

// attachSession is one hijacked attach connection.
type attachSession struct {
	conn net.Conn
	in   io.Reader // client input, with what net/http had buffered
	tty  bool
	mu   sync.Mutex // serialises writes (frames must not interleave)
	out  *connWriter

	gone     chan struct{}
	goneOnce sync.Once
	done     chan struct{} // closed when the handler is finished
	wg       sync.WaitGroup
}

func newAttachSession(conn net.Conn, buffered io.Reader, tty bool) *attachSession {
	a := &attachSession{conn: conn, in: buffered, tty: tty, gone: make(chan struct{}), done: make(chan struct{})}
	a.out = &connWriter{conn: conn, onErr: a.markGone}
	return a
}

func (a *attachSession) markGone() { a.goneOnce.Do(func() { close(a.gone) }) }

// streams builds the container side's view and starts reading client input.
func (a *attachSession) streams(opts AttachOptions) *AttachStreams {
	st := &AttachStreams{Gone: a.gone}
	var stdinW *io.PipeWriter
	if opts.Stdin {
		var pr *io.PipeReader
		pr, stdinW = io.Pipe()
		st.Stdin = pr
	}
	if opts.Stdout {
		st.Stdout = a.writer(streamStdout)
	}
	if opts.Stderr {
		st.Stderr = a.writer(streamStderr)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.readInput(stdinW)
	}()
	return st
}

// writer returns the writer for one output stream.
func (a *attachSession) writer(stream byte) io.Writer {
	if a.tty {
		return &lockedWriter{mu: &a.mu, w: a.out}
	}
	return &muxWriter{mu: &a.mu, w: a.out, stream: stream}
}

// readInput copies client input to stdin (or discards it). EOF is a
// half-close: it closes stdin and nothing else, because the docker CLI
// half-closes at once when it has no stdin to send and still wants all
// output. Only a read error or a hang-up marks the client gone.
func (a *attachSession) readInput(stdin *io.PipeWriter) {
	var dst io.Writer = io.Discard
	if stdin != nil {
		dst = stdin
	}
	_, err := io.Copy(dst, a.in)
	if stdin != nil {
		_ = stdin.Close()
	}
	select {
	case <-a.done:
		return
	default:
	}
	if err != nil {
		a.markGone()
		return
	}
	a.watchHangup()
}

// watchHangup waits for the peer to close its read side too (POLLHUP on a
// unix socket). It uses the runtime poller, so it costs no thread and ends
// when the connection is closed. A TCP peer's close only shows as a FIN,
// like a half-close: there the next failed write marks the client gone.
func (a *attachSession) watchHangup() {
	sc, ok := a.conn.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	err = raw.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd)}}
		n, err := unix.Poll(fds, 0)
		return err != nil || n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
	})
	select {
	case <-a.done:
	default:
		if err == nil {
			a.markGone()
		}
	}
}

// writeError reports an error after the hijack: as a system-error frame the
// client turns into "error from daemon in stream", or as text on a tty.
func (a *attachSession) writeError(msg string) {
	if a.tty {
		_, _ = (&lockedWriter{mu: &a.mu, w: a.out}).Write([]byte(msg + "\r\n"))
		return
	}
	_, _ = (&muxWriter{mu: &a.mu, w: a.out, stream: streamSystemErr}).Write([]byte(msg))
}

// close ends the session and waits for the input goroutine.
func (a *attachSession) close() {
	close(a.done)
	_ = a.conn.Close()
	a.wg.Wait()
}

// connWriter writes to the connection and reports the first failure.
type connWriter struct {
	conn  net.Conn
	onErr func()
}

func (c *connWriter) Write(p []byte) (int, error) {
	n, err := c.conn.Write(p)
	if err != nil {
		c.onErr()
	}
	return n, err
}
