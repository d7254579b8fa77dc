package events

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

func msgAt(action events.Action, id string, at time.Time) events.Message {
	return events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: id, Attributes: map[string]string{"name": id}},
		Scope: "local", Time: at.Unix(), TimeNano: at.UnixNano()}
}

func recvOne(t *testing.T, s *Subscription) (events.Message, bool) {
	t.Helper()
	select {
	case m, ok := <-s.C:
		return m, ok
	case <-time.After(time.Second):
		t.Fatal("no event within a second")
		return events.Message{}, false
	}
}

func TestLiveDeliveryWithFilters(t *testing.T) {
	b := New(Options{})
	f, _ := ParseFilters(`{"event":{"start":true}}`)
	s, err := b.Subscribe(time.Time{}, time.Time{}, f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Cancel()
	now := time.Now()
	b.Publish(msgAt(events.ActionCreate, "a", now))
	b.Publish(msgAt(events.ActionStart, "a", now))
	if m, ok := recvOne(t, s); !ok || m.Action != events.ActionStart {
		t.Fatalf("got %+v %v", m, ok)
	}
	if len(s.Past) != 0 {
		t.Fatalf("replayed without since: %v", s.Past)
	}
	select {
	case m := <-s.C:
		t.Fatalf("unexpected %+v", m)
	default:
	}
	s.Cancel()
	s.Cancel()
	if _, ok := <-s.C; ok || s.Err() != nil {
		t.Fatal("cancel did not close cleanly")
	}
	b.Publish(msgAt(events.ActionStart, "a", now)) // no panic on a closed subscriber
}

func TestSlowSubscriberDropped(t *testing.T) {
	b := New(Options{BufferSize: 4})
	slow, _ := b.Subscribe(time.Time{}, time.Time{}, Filters{})
	fast, _ := b.Subscribe(time.Time{}, time.Time{}, Filters{})
	defer fast.Cancel()
	got := make(chan int)
	go func() {
		n := 0
		for range fast.C {
			n++
			if n == 100 {
				got <- n
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			b.Publish(msgAt(events.ActionStart, fmt.Sprint(i), time.Now()))
			time.Sleep(100 * time.Microsecond) // let the fast reader keep up
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a slow subscriber")
	}
	n := 0
	for range slow.C {
		n++
	}
	if n != 4 || !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Fatalf("slow subscriber got %d events, err %v", n, slow.Err())
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("fast subscriber did not get all events")
	}
}

type fakeHistory struct{ msgs []events.Message }

func (h *fakeHistory) Events(since, until time.Time) ([]events.Message, error) {
	var out []events.Message
	for _, m := range h.msgs {
		if m.TimeNano >= since.UnixNano() && (until.IsZero() || m.TimeNano <= until.UnixNano()) {
			out = append(out, m)
		}
	}
	return out, nil
}

func TestReplaySinceUntil(t *testing.T) {
	base := time.Now().Add(-time.Hour)
	hist := &fakeHistory{}
	// Two events from before the bus existed (a previous berthd).
	hist.msgs = append(hist.msgs, msgAt(events.ActionCreate, "old1", base), msgAt(events.ActionStart, "old2", base.Add(time.Second)))
	b := New(Options{History: hist, RingSize: 4})
	now := time.Now()
	for i := 0; i < 6; i++ {
		m := msgAt(events.ActionDie, fmt.Sprint("r", i), now.Add(time.Duration(i)*time.Millisecond))
		hist.msgs = append(hist.msgs, m) // persisted, then published
		b.Publish(m)
	}
	ids := func(ms []events.Message) string {
		s := ""
		for _, m := range ms {
			s += m.Actor.ID + " "
		}
		return s
	}
	// since covers everything: the log supplies what the ring forgot, no duplicates.
	s, err := b.Subscribe(base, now.Add(-time.Minute+time.Hour), Filters{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(s.Past); got != "old1 old2 r0 r1 r2 r3 r4 r5 " {
		t.Fatalf("replay: %s", got)
	}
	s.Cancel()
	// until in the past: replay only, channel already closed.
	s, _ = b.Subscribe(base, base.Add(time.Second), Filters{})
	if got := ids(s.Past); got != "old1 old2 " {
		t.Fatalf("until replay: %s", got)
	}
	if _, ok := <-s.C; ok {
		t.Fatal("channel open after past until")
	}
	// since inside the ring, with a filter.
	f := NewFilters([2]string{"container", "r4"})
	s, _ = b.Subscribe(now.Add(3*time.Millisecond), time.Time{}, f)
	if got := ids(s.Past); got != "r4 " {
		t.Fatalf("filtered ring replay: %s", got)
	}
	s.Cancel()
	// until alone replays everything up to it.
	s, _ = b.Subscribe(time.Time{}, now.Add(time.Millisecond), Filters{})
	if got := ids(s.Past); got != "old1 old2 r0 r1 " {
		t.Fatalf("until-only replay: %s", got)
	}
}

func TestUntilInFutureCloses(t *testing.T) {
	b := New(Options{})
	s, _ := b.Subscribe(time.Time{}, time.Now().Add(50*time.Millisecond), Filters{})
	b.Publish(msgAt(events.ActionStart, "a", time.Now()))
	if m, ok := recvOne(t, s); !ok || m.Actor.ID != "a" {
		t.Fatal("live event before until not delivered")
	}
	if _, ok := recvOne(t, s); ok {
		t.Fatal("channel not closed at until")
	}
	if s.Err() != nil {
		t.Fatalf("err %v", s.Err())
	}
}
