package containerd

import (
	"context"
	"fmt"
	"strconv"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	cevents "github.com/containerd/containerd/v2/core/events"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// Event topics. readyTopic is Berth's own: Events publishes a marker on it
// and returns only once the marker came back through the new subscription,
// because containerd registers a subscriber asynchronously and an exit sent
// before that would be lost.
const (
	topicExit  = "/tasks/exit"
	topicOOM   = "/tasks/oom"
	readyTopic = "/berth/events-ready"

	eventBuffer  = 128
	readyTimeout = 10 * time.Second
)

// Events subscribes to exits and OOM notices of our namespace, filters them
// to our containers and converts them. The subscription is live when Events
// returns.
func (r *Runtime) Events(ctx context.Context) (<-chan runtime.Event, <-chan error, error) {
	s, err := r.begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	ns := strconv.Quote(s.cfg.namespace)
	filters := []string{
		fmt.Sprintf("namespace==%s,topic==%q", ns, topicExit),
		fmt.Sprintf("namespace==%s,topic==%q", ns, topicOOM),
		fmt.Sprintf("namespace==%s,topic==%q", ns, readyTopic),
	}
	subCtx, cancel := context.WithCancel(s.ctx)
	envelopes, errs := s.c.EventService().Subscribe(subCtx, filters...)

	early, err := waitReady(s, envelopes, errs)
	if err != nil {
		cancel()
		return nil, nil, err
	}

	out := make(chan runtime.Event, eventBuffer)
	errc := make(chan error, 1)
	go func() {
		defer cancel()
		defer close(errc)
		defer close(out)
		for _, env := range early {
			if ev, ok := r.convert(s, env); ok {
				select {
				case out <- ev:
				case <-subCtx.Done():
					return
				}
			}
		}
		for {
			select {
			case <-subCtx.Done():
				return
			case err := <-errs:
				if err != nil && subCtx.Err() == nil {
					errc <- wrapf(err, "containerd event stream")
				}
				return
			case env, ok := <-envelopes:
				if !ok {
					return
				}
				ev, ok := r.convert(s, env)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-subCtx.Done():
					return
				}
			}
		}
	}()
	return out, errc, nil
}

// waitReady publishes ready markers until one arrives on the subscription,
// and returns the events that came before it. Markers from another Events
// call prove liveness just as well.
func waitReady(s session, envelopes <-chan *cevents.Envelope, errs <-chan error) ([]*cevents.Envelope, error) {
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	publish := func() error {
		err := s.c.EventService().Publish(s.ctx, readyTopic, &emptypb.Empty{})
		if err != nil {
			return wrapf(err, "publish event-stream marker")
		}
		return nil
	}
	if err := publish(); err != nil {
		return nil, err
	}
	var early []*cevents.Envelope
	for {
		select {
		case env := <-envelopes:
			// Real events may precede the marker once the stream is
			// live; they are kept, not dropped.
			if env != nil && env.Topic == readyTopic {
				return early, nil
			}
			if env != nil {
				early = append(early, env)
			}
		case err := <-errs:
			return nil, wrapf(err, "subscribe to containerd events")
		case <-tick.C:
			if err := publish(); err != nil {
				return nil, err
			}
		case <-deadline.C:
			return nil, newError(errdefs.ErrUnavailable, "containerd event subscription did not become ready in %s", readyTimeout)
		case <-s.ctx.Done():
			return nil, classify(s.ctx.Err())
		}
	}
}

// convert turns a containerd envelope into a runtime event; it drops
// markers, undecodable events and events of containers that are not ours.
func (r *Runtime) convert(s session, env *cevents.Envelope) (runtime.Event, bool) {
	if env == nil || env.Event == nil {
		return runtime.Event{}, false
	}
	payload, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		return runtime.Event{}, false
	}
	var ev runtime.Event
	switch e := payload.(type) {
	case *apievents.TaskExit:
		ev = runtime.Event{
			Type:        runtime.EventExit,
			ContainerID: e.ContainerID,
			Pid:         e.Pid,
			ExitStatus:  e.ExitStatus,
			ExitedAt:    timeOf(e.ExitedAt),
		}
		// containerd names the init process after its container.
		if e.ID != "" && e.ID != e.ContainerID {
			ev.ExecID = e.ID
		}
		if ev.ExitedAt.IsZero() {
			ev.ExitedAt = env.Timestamp
		}
	case *apievents.TaskOOM:
		ev = runtime.Event{Type: runtime.EventOOM, ContainerID: e.ContainerID}
	default:
		return runtime.Event{}, false
	}
	return ev, r.isOwner(s, ev.ContainerID)
}

// isOwner answers from the cache, or asks containerd once per id. When
// containerd cannot say, the event is passed on: the kernel ignores ids it
// does not know, while a dropped exit of ours would be lost.
func (r *Runtime) isOwner(s session, id string) bool {
	r.ownersMu.Lock()
	mine, known := r.owners[id]
	r.ownersMu.Unlock()
	if known {
		return mine
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	info, err := s.c.ContainerService().Get(ctx, id)
	if err != nil {
		return !cerrdefs.IsNotFound(err)
	}
	mine = info.Labels[LabelDaemon] == s.cfg.daemonID
	r.setOwner(id, mine)
	return mine
}
