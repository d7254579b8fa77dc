// Package events is the kernel's event bus: Docker event messages published
// after they are persisted, fanned out to subscribers with Docker's filters,
// replayed for since/until from an in-memory ring and, for older events,
// from the persisted log.
package events

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// ErrSlowSubscriber is the reason a subscription ends when its buffer filled
// up: Publish never waits for a subscriber.
var ErrSlowSubscriber = errors.New("events: subscriber too slow, events dropped")

// History is the persisted event log (kernel/store's *Store satisfies it).
type History interface {
	// Events returns the persisted events with time in [since, until]
	// (a zero until is no bound), oldest first.
	Events(since, until time.Time) ([]events.Message, error)
}

// Options configure a Bus.
type Options struct {
	// RingSize is how many recent events stay in memory (default 1024).
	RingSize int
	// BufferSize is each subscriber's channel capacity (default 256).
	BufferSize int
	// History, if set, serves replays older than the ring.
	History History
}

// Bus fans events out to subscribers.
type Bus struct {
	history History
	bufSize int

	mu   sync.Mutex
	ring []events.Message // circular; ring[head] is the oldest once full
	head int
	// boundary (UnixNano) splits replay sources: events before it come from
	// History, events from it on are in the ring. It starts at the bus's
	// creation and moves forward as the ring forgets.
	boundary int64
	subs     map[*Subscription]struct{}
}

// New returns a Bus.
func New(opts Options) *Bus {
	if opts.RingSize <= 0 {
		opts.RingSize = 1024
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 256
	}
	return &Bus{
		history:  opts.History,
		bufSize:  opts.BufferSize,
		ring:     make([]events.Message, 0, opts.RingSize),
		boundary: time.Now().UnixNano(),
		subs:     map[*Subscription]struct{}{},
	}
}

// Subscription is one subscriber: the replayed past events, then live ones
// on C. C is closed when the subscription ends: by Cancel, when until is
// reached (Err is nil), or because the subscriber fell behind
// (Err is ErrSlowSubscriber).
type Subscription struct {
	// Past are the replayed events, oldest first, already filtered.
	Past []events.Message
	// C delivers live events that pass the filters.
	C <-chan events.Message

	bus    *Bus
	ch     chan events.Message
	filter Filters
	until  int64 // UnixNano; 0 means no bound
	timer  *time.Timer
	err    error // guarded by bus.mu
	closed bool  // guarded by bus.mu
}

// Err returns why C was closed (nil for Cancel and for reaching until).
func (s *Subscription) Err() error {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.err
}

// Cancel ends the subscription and closes C; it may be called more than once.
func (s *Subscription) Cancel() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.bus.closeLocked(s, nil)
}

func (b *Bus) closeLocked(s *Subscription, err error) {
	if s.closed {
		return
	}
	s.closed = true
	s.err = err
	if s.timer != nil {
		s.timer.Stop()
	}
	delete(b.subs, s)
	close(s.ch)
}

// Publish delivers m to the ring and to every matching subscriber. Call it
// after m was persisted, with the very message persisted. A subscriber whose
// buffer is full is dropped rather than waited for.
func (b *Bus) Publish(m events.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ring) < cap(b.ring) {
		b.ring = append(b.ring, m)
	} else {
		b.ring[b.head] = m
		b.head = (b.head + 1) % len(b.ring)
		if oldest := b.ring[b.head].TimeNano; oldest > b.boundary {
			b.boundary = oldest
		}
	}
	for s := range b.subs {
		if s.until != 0 && m.TimeNano > s.until {
			continue
		}
		if !MatchEvent(s.filter, m) {
			continue
		}
		select {
		case s.ch <- m:
		default:
			b.closeLocked(s, ErrSlowSubscriber)
		}
	}
}

// ringLocked returns the ring's events oldest first.
func (b *Bus) ringLocked() []events.Message {
	out := make([]events.Message, 0, len(b.ring))
	out = append(out, b.ring[b.head:]...)
	return append(out, b.ring[:b.head]...)
}

// Subscribe replays the events in [since, until] that pass f and then
// streams live ones, as GET /events does. Without since and until nothing is
// replayed; until alone replays everything up to it. An until in the past
// gives a subscription whose C is already closed; a future one closes C when
// it comes. The replay and the start of the live stream are atomic: no event
// is missed or seen twice between them.
func (b *Bus) Subscribe(since, until time.Time, f Filters) (*Subscription, error) {
	replay := !since.IsZero() || !until.IsZero()
	var sinceNano, untilNano int64
	if !since.IsZero() {
		sinceNano = since.UnixNano()
	}
	if !until.IsZero() {
		untilNano = until.UnixNano()
	}
	ch := make(chan events.Message, b.bufSize)
	s := &Subscription{C: ch, bus: b, ch: ch, filter: f, until: untilNano}

	b.mu.Lock()
	boundary := b.boundary
	if replay {
		for _, m := range b.ringLocked() {
			if m.TimeNano >= sinceNano && (untilNano == 0 || m.TimeNano <= untilNano) && MatchEvent(f, m) {
				s.Past = append(s.Past, m)
			}
		}
	}
	now := time.Now()
	if !until.IsZero() && !until.After(now) {
		s.closed = true
		close(ch)
	} else {
		b.subs[s] = struct{}{}
		if !until.IsZero() {
			s.timer = time.AfterFunc(until.Sub(now), func() {
				b.mu.Lock()
				defer b.mu.Unlock()
				b.closeLocked(s, nil)
			})
		}
	}
	b.mu.Unlock()

	// Older events come from the persisted log; the part before the boundary
	// is settled, so reading it outside the lock misses nothing.
	if replay && b.history != nil && sinceNano < boundary {
		hUntil := time.Unix(0, boundary-1)
		if untilNano != 0 && untilNano < boundary {
			hUntil = until
		}
		old, err := b.history.Events(time.Unix(0, sinceNano), hUntil)
		if err != nil {
			s.Cancel()
			return nil, fmt.Errorf("events: replay from log: %w", err)
		}
		var past []events.Message
		for _, m := range old {
			if m.TimeNano < boundary && MatchEvent(f, m) {
				past = append(past, m)
			}
		}
		s.Past = append(past, s.Past...)
	}
	return s, nil
}
