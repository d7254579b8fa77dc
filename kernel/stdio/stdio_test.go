package stdio

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
)

const testID = "c0ffee"

// shim plays the runtime shim's part on one output FIFO: a writer, plus a
// reader it never reads from so writes do not fail with EPIPE while no
// berthd has the FIFO open (containerd's shim does the same).
type shim struct {
	w, keep *os.File
}

func openShim(t *testing.T, path string) *shim {
	t.Helper()
	keep, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &shim{w: w, keep: keep}
	t.Cleanup(s.close)
	return s
}

func (s *shim) write(t *testing.T, data string) {
	t.Helper()
	if _, err := io.WriteString(s.w, data); err != nil {
		t.Fatalf("shim write: %v", err)
	}
}

func (s *shim) close() { s.w.Close(); s.keep.Close() }

// syncBuffer is a bytes.Buffer safe for the attachment goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sinkText(s *MemorySink, stream string) string {
	var b strings.Builder
	for _, e := range s.Entries() {
		if e.Stream == stream {
			b.Write(e.Line)
		}
	}
	return b.String()
}

func TestCreateFIFOs(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, testID, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range []string{StdinName, StdoutName, StderrName} {
		st, err := os.Lstat(filepath.Join(dir, testID, name))
		if err != nil || st.Mode().Type() != fs.ModeNamedPipe {
			t.Fatalf("%s: stat %v, mode %v; want a FIFO", name, err, st)
		}
	}
	for name, file := range map[string]*os.File{"stdin": f.Stdin, "stdout": f.Stdout, "stderr": f.Stderr} {
		n, err := PipeSizeOf(file)
		if err != nil {
			t.Fatal(err)
		}
		if n != PipeSize {
			t.Errorf("%s pipe size = %d, want %d", name, n, PipeSize)
		}
	}
	s := f.Stdio()
	if s.Stdin != filepath.Join(dir, testID, StdinName) || s.Stdout == "" || s.Stderr == "" || s.Terminal {
		t.Errorf("Stdio() = %+v", s)
	}

	tf, err := Create(dir, "tty", false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	if tf.Stdin != nil || tf.Stderr != nil || tf.Stdout == nil {
		t.Errorf("tty without stdin: stdin %v stderr %v stdout %v", tf.Stdin, tf.Stderr, tf.Stdout)
	}
	if _, err := os.Lstat(filepath.Join(dir, "tty", StderrName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tty container has a stderr FIFO (err %v)", err)
	}
	if got := tf.Stdio(); got.Stderr != "" || got.Stdin != "" || !got.Terminal {
		t.Errorf("tty Stdio() = %+v", got)
	}

	if _, err := Open(dir, "missing", false, false); err == nil {
		t.Error("Open of missing FIFOs succeeded")
	}
	if _, err := Create(dir, "../escape", false, false); err == nil {
		t.Error("Create accepted an id with a slash")
	}
	if err := Remove(dir, testID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, testID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove left %s (err %v)", testID, err)
	}
}

// TestFanOut: two attach clients (one multiplexed, one stdout-only raw) and
// the sink all get the output; EOF after the shim closes and Close drains.
func TestFanOut(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, testID, false, false)
	if err != nil {
		t.Fatal(err)
	}
	sink := &MemorySink{}
	c := NewCopier(f, sink)
	var muxed, raw syncBuffer
	a1 := c.Attach(NewMuxWriter(&muxed, StreamStdout), NewMuxWriter(&muxed, StreamStderr))
	a2 := c.Attach(&raw, nil)

	out := openShim(t, filepath.Join(dir, testID, StdoutName))
	errw := openShim(t, filepath.Join(dir, testID, StderrName))
	out.write(t, "hello\nwor")
	errw.write(t, "oops\n")
	out.write(t, "ld\nno newline")
	waitFor(t, "sink lines", func() bool { return sinkText(sink, "stdout") == "hello\nworld\n" })
	out.close()
	errw.close()

	start := time.Now()
	if err := c.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v although the writers were closed (EOF expected)", d)
	}
	<-a1.Done()
	<-a2.Done()
	if a1.Err() != nil || a2.Err() != nil {
		t.Errorf("attachment errors: %v, %v", a1.Err(), a2.Err())
	}

	if got := sinkText(sink, "stdout"); got != "hello\nworld\nno newline" {
		t.Errorf("sink stdout = %q", got)
	}
	if got := sinkText(sink, "stderr"); got != "oops\n" {
		t.Errorf("sink stderr = %q", got)
	}
	for _, e := range sink.Entries() {
		if e.Time.IsZero() || (bytes.Count(e.Line, []byte("\n")) > 1) {
			t.Errorf("bad sink entry %+v", e)
		}
	}
	if got := string(raw.Bytes()); got != "hello\nworld\nno newline" {
		t.Errorf("raw client = %q", got)
	}
	var gotOut, gotErr bytes.Buffer
	if _, err := stdcopy.StdCopy(&gotOut, &gotErr, bytes.NewReader(muxed.Bytes())); err != nil {
		t.Fatalf("demux: %v", err)
	}
	if gotOut.String() != "hello\nworld\nno newline" || gotErr.String() != "oops\n" {
		t.Errorf("muxed client: stdout %q stderr %q", gotOut.String(), gotErr.String())
	}
	// A client attaching after the end is finished at once.
	late := c.Attach(&raw, nil)
	select {
	case <-late.Done():
	case <-time.After(time.Second):
		t.Error("attachment after the end never finished")
	}
}

// blockingWriter never returns from Write until released.
type blockingWriter struct{ release chan struct{} }

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return 0, errors.New("released")
}

// TestSlowClientDropped: a client that stops reading is dropped once its
// buffer fills; the sink and a fast client get everything, and the writer
// (the container) never blocks for long, although it writes twice the pipe.
func TestSlowClientDropped(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, testID, false, true)
	if err != nil {
		t.Fatal(err)
	}
	sink := &MemorySink{}
	c := NewCopier(f, sink, WithClientBuffer(256*1024), WithClientStall(300*time.Millisecond))
	slow := &blockingWriter{release: make(chan struct{})}
	defer close(slow.release)
	aSlow := c.Attach(slow, nil)
	var fast syncBuffer
	aFast := c.Attach(&fast, nil)

	out := openShim(t, filepath.Join(dir, testID, StdoutName))
	line := strings.Repeat("x", 1023) + "\n"
	const lines = 4 * DefaultClientBuffer / 1024 // well past the client buffer and the pipe
	wrote := make(chan struct{})
	go func() {
		for i := 0; i < lines; i++ {
			io.WriteString(out.w, line)
		}
		close(wrote)
	}()
	select {
	case <-wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("container writes stalled")
	}
	// The stuck client is over its buffer; once it has made no progress for
	// the stall time, the next output drops it.
	time.Sleep(400 * time.Millisecond)
	out.write(t, line)
	select {
	case <-aSlow.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("slow client was not dropped")
	}
	if !errors.Is(aSlow.Err(), ErrSlowClient) {
		t.Errorf("slow client err = %v, want ErrSlowClient", aSlow.Err())
	}
	out.close()
	if err := c.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-aFast.Done()
	if aFast.Err() != nil {
		t.Errorf("fast client err = %v", aFast.Err())
	}
	if n := len(sink.Entries()); n != lines+1 {
		t.Errorf("sink got %d lines, want %d", n, lines+1)
	}
	if n := len(fast.Bytes()); n != (lines+1)*len(line) {
		t.Errorf("fast client got %d bytes, want %d", n, (lines+1)*len(line))
	}
}

// TestReopenKeepsData: output written while no copier holds the FIFOs
// (berthd down) is delivered by the next Open + NewCopier.
func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, testID, false, false)
	if err != nil {
		t.Fatal(err)
	}
	sink1 := &MemorySink{}
	c1 := NewCopier(f, sink1)
	out := openShim(t, filepath.Join(dir, testID, StdoutName))
	errw := openShim(t, filepath.Join(dir, testID, StderrName))
	out.write(t, "before\n")
	waitFor(t, "first line", func() bool { return sinkText(sink1, "stdout") == "before\n" })
	if err := c1.Detach(); err != nil {
		t.Fatal(err)
	}

	out.write(t, "during restart\n")
	errw.write(t, "err during restart\n")

	f2, err := Open(dir, testID, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := PipeSizeOf(f2.Stdout); err != nil || n != PipeSize {
		t.Errorf("pipe size after reopen = %d, %v", n, err)
	}
	sink2 := &MemorySink{}
	c2 := NewCopier(f2, sink2)
	out.write(t, "after\n")
	waitFor(t, "lines after reopen", func() bool {
		return sinkText(sink2, "stdout") == "during restart\nafter\n" && sinkText(sink2, "stderr") == "err during restart\n"
	})
	out.close()
	errw.close()
	if err := c2.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := sinkText(sink1, "stdout"); got != "before\n" {
		t.Errorf("first sink = %q", got)
	}
}

// TestEOF: the copier keeps running while only its own keeper holds the
// FIFO (a task not yet started, or between restarts), and Close is bounded
// when the writer never closes.
func TestEOF(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, testID, false, true)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCopier(f, nil)
	out := openShim(t, filepath.Join(dir, testID, StdoutName))
	out.close()
	select {
	case <-c.Done():
		t.Fatal("copier ended when the writer closed, before Close")
	case <-time.After(100 * time.Millisecond):
	}
	// A new writer (a restarted task) still reaches the same copier.
	var buf syncBuffer
	a := c.Attach(&buf, nil)
	out2 := openShim(t, filepath.Join(dir, testID, StdoutName))
	out2.write(t, "second run\n")
	waitFor(t, "second run output", func() bool { return string(buf.Bytes()) == "second run\n" })

	// out2 stays open: Close gives up after its timeout.
	start := time.Now()
	if err := c.Close(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Errorf("bounded Close took %v, want about 200ms", d)
	}
	<-a.Done()
	if err := c.Close(time.Second); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestStdin: attach input reaches the process side of the stdin FIFO, and
// StdinOnce closes it at the client's EOF.
func TestStdin(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, testID, true, false)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCopier(f, nil)
	defer c.Close(time.Second)
	proc, err := os.OpenFile(filepath.Join(dir, testID, StdinName), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()

	if err := c.CopyStdin(strings.NewReader("first\n"), false); err != nil {
		t.Fatal(err)
	}
	if err := c.CopyStdin(strings.NewReader("second\n"), true); err != nil {
		t.Fatal(err)
	}
	proc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(proc)
	if err != nil {
		t.Fatalf("read stdin to EOF: %v (got %q)", err, got)
	}
	if string(got) != "first\nsecond\n" {
		t.Errorf("process read %q", got)
	}
	if err := c.CopyStdin(strings.NewReader("late"), false); err == nil {
		t.Error("write after StdinOnce close succeeded")
	}
}

func TestMuxRoundTrip(t *testing.T) {
	var wire bytes.Buffer
	out := NewMuxWriter(&wire, StreamStdout)
	errw := NewMuxWriter(&wire, StreamStderr)
	big := bytes.Repeat([]byte("0123456789"), 10000) // 100 kB: several frames
	io.WriteString(out, "hello ")
	io.WriteString(errw, "warning\n")
	if n, err := out.Write(big); err != nil || n != len(big) {
		t.Fatalf("big write = %d, %v", n, err)
	}
	io.WriteString(out, "\n")
	if h := wire.Bytes()[:8]; h[0] != 1 || h[1] != 0 || h[2] != 0 || h[3] != 0 || h[7] != 6 {
		t.Errorf("first header = %v", h)
	}
	var gotOut, gotErr bytes.Buffer
	if _, err := stdcopy.StdCopy(&gotOut, &gotErr, &wire); err != nil {
		t.Fatal(err)
	}
	if want := "hello " + string(big) + "\n"; gotOut.String() != want {
		t.Errorf("stdout differs (len %d, want %d)", gotOut.Len(), len(want))
	}
	if gotErr.String() != "warning\n" {
		t.Errorf("stderr = %q", gotErr.String())
	}

	var sysWire bytes.Buffer
	io.WriteString(NewMuxWriter(&sysWire, StreamSystemErr), "boom")
	_, err := stdcopy.StdCopy(io.Discard, io.Discard, &sysWire)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("systemerr frame: err = %v", err)
	}
}

func TestWaitStdinDrained(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, testID, true, false)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCopier(f, nil)
	defer c.Close(time.Second)
	if err := c.CopyStdin(strings.NewReader("unread\n"), false); err != nil {
		t.Fatal(err)
	}
	// Nobody reads: the wait must give up at its timeout, not return early.
	start := time.Now()
	c.WaitStdinDrained(150 * time.Millisecond)
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("returned after %s with data still in the FIFO", waited)
	}
	// A reader (the shim) takes the data: the wait returns at once.
	shim, err := os.OpenFile(filepath.Join(dir, testID, StdinName), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer shim.Close()
	buf := make([]byte, 64)
	if n, err := shim.Read(buf); err != nil || string(buf[:n]) != "unread\n" {
		t.Fatalf("shim read %q, %v", buf[:n], err)
	}
	start = time.Now()
	c.WaitStdinDrained(5 * time.Second)
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("waited %s for an empty FIFO", waited)
	}
}
