package api

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// lineEncoder writes one JSON object per line and flushes each.
type lineEncoder struct {
	w   http.ResponseWriter
	enc *json.Encoder
}

func newLineEncoder(w http.ResponseWriter) *lineEncoder {
	return &lineEncoder{w: w, enc: json.NewEncoder(w)}
}

func (e *lineEncoder) encode(v any) error {
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	return http.NewResponseController(e.w).Flush()
}

// progressWriter is the io.Writer handed to Pull and Import: the first
// Write starts a 200 application/json response, every Write is flushed so
// the client can draw progress as it happens.
type progressWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	started bool
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start()
	n, err := p.w.Write(b)
	if err != nil {
		return n, err
	}
	return n, http.NewResponseController(p.w).Flush()
}

// start writes the headers once.
func (p *progressWriter) start() {
	if !p.started {
		p.started = true
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
	}
}

// finish ends the stream: an error before the first Write is returned for
// a normal HTTP error response; after it, it goes in-band the way the
// docker CLI reads it ({"errorDetail":{"message":..},"error":..}).
func (p *progressWriter) finish(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.start()
		return nil
	}
	if !p.started {
		return err
	}
	msg := messageOf(err)
	_ = json.NewEncoder(p.w).Encode(struct {
		ErrorDetail struct {
			Message string `json:"message"`
		} `json:"errorDetail"`
		Error string `json:"error"`
	}{ErrorDetail: struct {
		Message string `json:"message"`
	}{msg}, Error: msg})
	_ = http.NewResponseController(p.w).Flush()
	return nil
}

// stdcopy stream numbers (github.com/moby/moby/api/pkg/stdcopy).
const (
	streamStdout    = 1
	streamStderr    = 2
	streamSystemErr = 3
)

// muxWriter frames writes for one stream of a multiplexed attach: an
// 8-byte header [stream,0,0,0,size big-endian] then the payload. Writers of
// one connection share the mutex so frames never interleave.
type muxWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream byte
}

func (m *muxWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	frame := make([]byte, 8+len(p))
	frame[0] = m.stream
	binary.BigEndian.PutUint32(frame[4:], uint32(len(p)))
	copy(frame[8:], p)
	if _, err := m.w.Write(frame); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lockedWriter serialises raw (tty) writes from several goroutines.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
