package events_test

import (
	"path/filepath"
	"testing"
	"time"

	kevents "github.com/berth-dev/berth/kernel/events"
	"github.com/berth-dev/berth/kernel/store"
	"github.com/moby/moby/api/types/events"
)

var _ kevents.History = (*store.Store)(nil)

// TestReplayAcrossRestart persists events through one store and bus, then
// reopens the store with a fresh bus (a restarted berthd) and replays them.
func TestReplayAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bus := kevents.New(kevents.Options{History: st})
	start := time.Now()
	for _, a := range []events.Action{events.ActionCreate, events.ActionStart, events.ActionDie} {
		ev := events.Message{Type: events.ContainerEventType, Action: a, Actor: events.Actor{ID: "c1", Attributes: map[string]string{"name": "web"}}}
		if err := st.AppendEvent(&ev); err != nil {
			t.Fatal(err)
		}
		bus.Publish(ev)
	}
	st.Close()

	st, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bus = kevents.New(kevents.Options{History: st})
	f, _ := kevents.ParseFilters(`{"event":["start","die"]}`)
	sub, err := bus.Subscribe(start, time.Now(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Past) != 2 || sub.Past[0].Action != events.ActionStart || sub.Past[1].Action != events.ActionDie || sub.Past[0].Scope != "local" {
		t.Fatalf("replay after restart: %+v", sub.Past)
	}
}
