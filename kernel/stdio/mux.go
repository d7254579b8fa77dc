package stdio

import (
	"encoding/binary"
	"io"
)

// Stream ids of Docker's multiplexed attach/logs framing (stdcopy).
const (
	StreamStdin     byte = 0
	StreamStdout    byte = 1
	StreamStderr    byte = 2
	StreamSystemErr byte = 3
)

// maxFrame bounds one frame's payload; longer writes become several frames.
const maxFrame = 32 * 1024

// NewMuxWriter returns a writer that frames every Write for a non-tty attach
// or logs stream: an 8-byte header [stream, 0, 0, 0, size as uint32 big
// endian] then the payload. Header and payload go out in one Write on w, so
// writers for different streams may share w as long as their Writes are not
// concurrent. With a tty the stream is raw: write to w directly.
func NewMuxWriter(w io.Writer, stream byte) io.Writer {
	return &muxWriter{w: w, stream: stream}
}

type muxWriter struct {
	w      io.Writer
	stream byte
	buf    []byte
}

func (m *muxWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), maxFrame)
		m.buf = append(m.buf[:0], m.stream, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(m.buf[4:8], uint32(n))
		m.buf = append(m.buf, p[:n]...)
		if _, err := m.w.Write(m.buf); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}
