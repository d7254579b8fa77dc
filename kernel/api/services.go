package api

import (
	"context"
	"io"
	"syscall"
	"time"

	kevents "github.com/berth-dev/berth/kernel/events"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
)

// Services are the narrow views of the kernel that the handlers use. Each
// field may be nil; its routes then answer 501 Not Implemented.
//
// Errors returned by any service method are classified with sdk/errdefs
// (ErrNotFound → 404, ErrConflict → 409, ErrInvalidArgument → 400,
// ErrUnavailable → 503, ErrUnimplemented → 501) or with this package's
// ErrNotModified (304) and ErrForbidden (403); anything else is a 500.
// The client sees err.Error() with a trailing ": <class>" removed, so
// fmt.Errorf("No such container: %s: %w", name, errdefs.ErrNotFound)
// reaches the docker CLI as "No such container: <name>".
type Services struct {
	Containers Containers
	Images     Images
	Events     Events
	System     System
}

// Containers is the container lifecycle as the API needs it. Every id
// argument is what the client sent: a full id, a unique id prefix or a name
// (with or without its leading "/"); resolving it is the service's job.
type Containers interface {
	// Create records a new container in state "created". name is "" for a
	// generated name; the handler has already checked its syntax. Only a
	// missing image may be ErrNotFound (the docker CLI pulls and retries on
	// any 404); a name in use is ErrConflict; bad settings are
	// ErrInvalidArgument.
	Create(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (id string, warnings []string, err error)
	// Start starts a created or exited container; ErrNotModified when it
	// is already running.
	Start(ctx context.Context, id string) error
	// Stop sends signal (0: the container's StopSignal, else SIGTERM),
	// waits timeout seconds (nil: the container's StopTimeout, else 10;
	// -1: forever) and then kills. ErrNotModified when it is not running.
	Stop(ctx context.Context, id string, timeout *int, signal syscall.Signal) error
	// Restart is Stop (same arguments) followed by Start; it also starts a
	// container that was not running.
	Restart(ctx context.Context, id string, timeout *int, signal syscall.Signal) error
	// Kill sends signal (never 0: the handler defaults to SIGKILL).
	// ErrConflict when the container is not running.
	Kill(ctx context.Context, id string, signal syscall.Signal) error
	// Remove deletes the container; running without force is ErrConflict.
	// volumes also removes its anonymous volumes.
	Remove(ctx context.Context, id string, force, volumes bool) error
	// Wait registers a waiter before it returns, so an exit that happens
	// after Wait returns is never missed (the docker CLI calls wait before
	// start). The channel yields exactly one result when the condition is
	// met; the service stops waiting (and may close the channel without a
	// value) when ctx is done, i.e. when the client went away.
	// The handler has validated cond; it is never "".
	Wait(ctx context.Context, id string, cond container.WaitCondition) (<-chan WaitResult, error)
	// Attach connects a client to the container's stdio. It first checks
	// the request (ErrNotFound, ErrConflict...), then calls open exactly
	// once to hijack the connection; errors returned before open reach
	// the client as a normal HTTP error, errors after it are written into
	// the stream. tty tells open whether to give raw writers (tty) or
	// stdcopy-framing ones. Attach returns when the attachment ends:
	// the output streams ended (container exited and output drained),
	// streams.Gone closed, or, for Stream=false, once Logs are written.
	Attach(ctx context.Context, id string, opts AttachOptions, open func(tty bool) (*AttachStreams, error)) error
	// List returns container summaries. The handler applies the filters,
	// the running-only rule (All false), the newest-first order and Limit
	// to whatever List returns, so returning every container is correct;
	// a service may use opts to return less.
	List(ctx context.Context, opts ListOptions) ([]container.Summary, error)
	// Inspect returns the full container record.
	Inspect(ctx context.Context, id string) (*container.InspectResponse, error)
	// Resize sets the size of a running container's terminal; ErrConflict
	// when it is not running.
	Resize(ctx context.Context, id string, height, width uint) error
	// Pause freezes every process of a running container; Unpause thaws
	// them. ErrConflict when the container is not running, or already in
	// the requested state.
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
}

// WaitResult is what a wait answers: the exit status and, when the
// container could not run or be waited for, an error message.
type WaitResult struct {
	StatusCode int64
	Error      string
}

// AttachOptions are the attach query parameters.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
	// Stream keeps the attachment open for live output; Logs first replays
	// what was logged so far.
	Stream, Logs bool
	// DetachKeys is the client's detach sequence ("" = ctrl-p,ctrl-q);
	// the service scans Stdin for it and ends the attachment on a match.
	DetachKeys string
}

// AttachStreams are the hijacked connection as the container side sees it.
type AttachStreams struct {
	// Stdin is the client's input (nil unless AttachOptions.Stdin). EOF
	// means the client half-closed its side (the docker CLI does so at once
	// without -i): close the container's stdin if StdinOnce, keep sending
	// output. It is not a disconnect.
	Stdin io.Reader
	// Stdout and Stderr write to the client: stdcopy frames (stream 1 and
	// 2) when not tty, raw bytes when tty. Nil when not requested. They
	// are safe for concurrent use.
	Stdout, Stderr io.Writer
	// Gone is closed when the client really disconnected (the peer closed
	// both directions, or a write failed); stop copying then.
	Gone <-chan struct{}
}

// ListOptions are the GET /containers/json parameters.
type ListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters kevents.Filters
}

// Images is the kernel's image store as the API needs it. name arguments
// are references ("busybox", "docker.io/library/busybox:latest"), full or
// short ids, or "sha256:" ids.
type Images interface {
	// Pull fetches fromImage (fully-qualified name as the CLI sends it) at
	// tag (a tag or "sha256:..." digest; "" means all tags or latest, the
	// service decides) for platform ("" = host). authHeader is the raw
	// X-Registry-Auth value (base64url JSON AuthConfig, may be empty).
	// Progress goes to w as Docker JSON messages, one complete
	// jsonstream.Message object + "\n" per Write; the handler flushes after
	// each Write. An error returned before the first Write is an HTTP error;
	// after it the handler writes it in-band.
	Pull(ctx context.Context, fromImage, tag, platform, authHeader string, w io.Writer) error
	// Import creates an image from a root filesystem tarball (src, maybe
	// compressed) and tags it repo:tag when repo is given, applying the
	// Dockerfile-like changes ("CMD [...]", "ENV a=b"...). Progress and the
	// final {"status":"sha256:..."} go to w as for Pull.
	Import(ctx context.Context, src io.Reader, repo, tag string, changes []string, w io.Writer) error
	// List returns image summaries; the handler does not filter them
	// further (image filters are the service's: dangling, label, reference,
	// before, since).
	List(ctx context.Context, opts ImageListOptions) ([]image.Summary, error)
	// Inspect returns one image.
	Inspect(ctx context.Context, name string) (*image.InspectResponse, error)
	// Delete untags and deletes; prune=false keeps untagged parents. In use
	// by a container without force → ErrConflict.
	Delete(ctx context.Context, name string, force, prune bool) ([]image.DeleteResponse, error)
}

// ImageListOptions are the GET /images/json parameters.
type ImageListOptions struct {
	All     bool
	Filters kevents.Filters
}

// Events is the event bus as the API needs it.
type Events interface {
	// Subscribe returns the stored events newer than opts.Since (none when
	// Since is zero) that match opts.Filters, followed by live ones, on one
	// channel. The service closes the channel when ctx is done or, when
	// Until is set, once no event up to Until can still arrive (Until in the
	// past: after the replay). The handler has validated the filter keys.
	Subscribe(ctx context.Context, opts EventsOptions) (<-chan events.Message, error)
}

// EventsOptions are the GET /events parameters; zero times mean "unset".
type EventsOptions struct {
	Since, Until time.Time
	Filters      kevents.Filters
}

// System answers /info and /version.
type System interface {
	// Info returns the daemon's state; the handler fills what the docker
	// CLI needs if left empty (OSType, Swarm.LocalNodeState "inactive",
	// ServerVersion, SystemTime). SecurityOptions entries must be
	// "name=seccomp,profile=builtin"-style lists: the CLI rejects others.
	Info(ctx context.Context) (*system.Info, error)
	// Version returns the engine's version; the handler sets ApiVersion,
	// MinAPIVersion and an "Engine" component with the details the docker
	// CLI prints.
	Version(ctx context.Context) (*system.VersionResponse, error)
}
