package plugins

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// slogHCLog adapts a *slog.Logger to the hclog.Logger that go-plugin logs
// through. go-plugin relays every stderr line of a plugin (hclog JSON or raw
// text) to this logger, so plugin logs land in berthd's structured log tagged
// with the plugin's name.
type slogHCLog struct {
	l    *slog.Logger
	name string
	args []interface{}
	// exit records the error go-plugin reports when the plugin process ends,
	// because go-plugin has no other way to hand the exit status out.
	exit *exitNote
}

// exitNote holds the last exit reason seen for one plugin process.
type exitNote struct {
	mu     sync.Mutex
	reason string
}

func (n *exitNote) set(s string) {
	n.mu.Lock()
	n.reason = s
	n.mu.Unlock()
}

func (n *exitNote) get() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reason
}

func newHCLog(l *slog.Logger, exit *exitNote) hclog.Logger {
	return &slogHCLog{l: l, exit: exit}
}

var _ hclog.Logger = (*slogHCLog)(nil)

func hcToSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (a *slogHCLog) Log(level hclog.Level, msg string, args ...interface{}) {
	if a.exit != nil && msg == "plugin process exited" {
		reason := "exited"
		for i := 0; i+1 < len(args); i += 2 {
			if k, _ := args[i].(string); k == "error" {
				reason = fmt.Sprint(args[i+1])
			}
		}
		a.exit.set(reason)
	}
	lv := hcToSlog(level)
	ctx := context.Background()
	if !a.l.Enabled(ctx, lv) {
		return
	}
	all := make([]interface{}, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		all = append(all, "logger", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	// hclog allows an odd trailing value; slog would print !BADKEY, which is
	// acceptable, but keep pairs intact where we can.
	a.l.Log(ctx, lv, strings.TrimSpace(msg), all...)
}

func (a *slogHCLog) Trace(msg string, args ...interface{}) { a.Log(hclog.Trace, msg, args...) }
func (a *slogHCLog) Debug(msg string, args ...interface{}) { a.Log(hclog.Debug, msg, args...) }
func (a *slogHCLog) Info(msg string, args ...interface{})  { a.Log(hclog.Info, msg, args...) }
func (a *slogHCLog) Warn(msg string, args ...interface{})  { a.Log(hclog.Warn, msg, args...) }
func (a *slogHCLog) Error(msg string, args ...interface{}) { a.Log(hclog.Error, msg, args...) }

func (a *slogHCLog) enabled(level hclog.Level) bool {
	return a.l.Enabled(context.Background(), hcToSlog(level))
}

func (a *slogHCLog) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *slogHCLog) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *slogHCLog) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *slogHCLog) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *slogHCLog) IsError() bool { return a.enabled(hclog.Error) }

func (a *slogHCLog) ImpliedArgs() []interface{} { return a.args }

func (a *slogHCLog) With(args ...interface{}) hclog.Logger {
	c := *a
	c.args = append(append([]interface{}{}, a.args...), args...)
	return &c
}

func (a *slogHCLog) Name() string { return a.name }

func (a *slogHCLog) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *slogHCLog) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

// SetLevel is a no-op: the slog handler decides what is recorded.
func (a *slogHCLog) SetLevel(hclog.Level) {}

// GetLevel reports the lowest level the slog handler accepts, so go-plugin
// does not drop plugin lines the handler would keep.
func (a *slogHCLog) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if a.enabled(lv) {
			return lv
		}
	}
	return hclog.Error
}

func (a *slogHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *slogHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		a.Info(string(p))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
