package image

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// JSONMessage is one line of a Docker progress stream (the jsonmessage
// format the docker CLI renders): newline-delimited, one object per line.
type JSONMessage struct {
	Status         string          `json:"status,omitempty"`
	ID             string          `json:"id,omitempty"`
	ProgressDetail *ProgressDetail `json:"progressDetail,omitempty"`
	// Progress is the pre-rendered bar older clients print.
	Progress    string     `json:"progress,omitempty"`
	ErrorDetail *JSONError `json:"errorDetail,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// ProgressDetail carries byte counts of a progress message.
type ProgressDetail struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

// JSONError is the errorDetail of a failed stream.
type JSONError struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
}

// WriteJSONError writes err as the in-band error line dockerd sends once a
// progress stream has started; the docker CLI stops and prints its message.
func WriteJSONError(w io.Writer, err error) error {
	b, _ := json.Marshal(JSONMessage{ErrorDetail: &JSONError{Message: err.Error()}, Error: err.Error()})
	_, werr := w.Write(append(b, '\n'))
	flush(w)
	return werr
}

// progressWriter serialises messages from parallel downloads onto one
// stream. A write error (the client went away) is remembered and later
// writes are dropped: the pull itself goes on, as dockerd's does.
type progressWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func newProgressWriter(w io.Writer) *progressWriter {
	if w == nil {
		w = io.Discard
	}
	return &progressWriter{w: w}
}

func (p *progressWriter) write(m JSONMessage) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	if _, p.err = p.w.Write(append(b, '\n')); p.err == nil {
		flush(p.w)
	}
}

func (p *progressWriter) status(id, status string) {
	p.write(JSONMessage{ID: id, Status: status})
}

func (p *progressWriter) progress(id, status string, current, total int64) {
	p.write(JSONMessage{ID: id, Status: status, ProgressDetail: &ProgressDetail{Current: current, Total: total}})
}

// flush pushes buffered output to the client when w can (an
// http.ResponseWriter), so that progress shows as it happens.
func flush(w io.Writer) {
	if f, ok := w.(interface{ Flush() }); ok {
		f.Flush()
	}
}

// throttle limits how often a download reports progress: dockerd-like
// streams are redrawn by the CLI, a message per read would flood them.
type throttle struct {
	last time.Time
}

func (t *throttle) ready() bool {
	now := time.Now()
	if now.Sub(t.last) < 100*time.Millisecond {
		return false
	}
	t.last = now
	return true
}
