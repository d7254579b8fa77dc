package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/kernel/container"
	"github.com/berth-dev/berth/sdk/errdefs"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"
)

func openTemp(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "berth.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func sample(name string) *container.Container {
	return &container.Container{
		ID:      container.NewID(),
		Name:    "/" + name,
		Created: time.Now().UTC(),
		Path:    "/bin/sh",
		Args:    []string{"-c", "echo hi"},
		Image:   "sha256:" + container.NewID(),
		Config: &mobycontainer.Config{
			Image:  "busybox",
			Cmd:    []string{"sh", "-c", "echo hi"},
			Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=b"},
			Labels: map[string]string{"com.docker.compose.project": "demo", "com.docker.compose.service": name},
		},
		HostConfig: &mobycontainer.HostConfig{
			NetworkMode:   "bridge",
			RestartPolicy: mobycontainer.RestartPolicy{Name: "unless-stopped"},
			LogConfig:     mobycontainer.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m"}},
			Binds:         []string{"/srv/data:/data:ro"},
		},
		Driver:  "overlayfs",
		GraphID: container.NewID(),
	}
}

func TestOpenTwiceFailsFast(t *testing.T) {
	_, path := openTemp(t, Options{})
	start := time.Now()
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("second open: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("second open took %v", d)
	}
}

func TestContainerRoundTrip(t *testing.T) {
	s, path := openTemp(t, Options{})
	c := sample("web")
	ev := c.Event(events.ActionCreate, nil)
	ev.TimeNano, ev.Time = 0, 0 // let the store stamp it
	if err := s.PutContainer(c, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.TimeNano == 0 || ev.Scope != "local" {
		t.Fatalf("event not stamped: %+v", ev)
	}
	got, err := s.GetContainer(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "/web" || got.Config.Labels["com.docker.compose.service"] != "web" || got.HostConfig.RestartPolicy.Name != "unless-stopped" {
		t.Fatalf("round trip lost data: %+v", got)
	}
	if owner, _ := s.NameOwner("web"); owner != c.ID {
		t.Fatalf("name owner %q", owner)
	}
	evs, err := s.Events(time.Time{}, time.Time{})
	if err != nil || len(evs) != 1 || evs[0].Action != events.ActionCreate || evs[0].Actor.ID != c.ID {
		t.Fatalf("events %+v %v", evs, err)
	}

	// Name clash: the record is not written and no event is logged.
	other := sample("web")
	oev := other.Event(events.ActionCreate, nil)
	if err := s.PutContainer(other, &oev); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("clash: %v", err)
	}
	if _, err := s.GetContainer(other.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("clashing record written: %v", err)
	}
	if evs, _ := s.Events(time.Time{}, time.Time{}); len(evs) != 1 {
		t.Fatalf("event of failed put persisted: %d", len(evs))
	}

	// Rename in one put frees the old name.
	renamed := c.Clone()
	renamed.Name = "/front"
	if err := s.PutContainer(renamed, nil); err != nil {
		t.Fatal(err)
	}
	if owner, _ := s.NameOwner("web"); owner != "" {
		t.Fatalf("old name still held by %q", owner)
	}
	if err := s.ReserveName("/front", other.ID); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("reserve taken: %v", err)
	}
	if err := s.ReserveName("web", other.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveName("web", other.ID); err != nil {
		t.Fatalf("re-reserving own name: %v", err)
	}
	if err := s.ReleaseName("web"); err != nil {
		t.Fatal(err)
	}

	// Delete drops record and name, logs the event; the state survives reopen.
	dev := renamed.Event(events.ActionDestroy, nil)
	if err := s.DeleteContainer(c.ID, &dev); err != nil {
		t.Fatal(err)
	}
	keep := sample("db")
	if err := s.PutContainer(keep, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.GetContainer(c.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("deleted record: %v", err)
	}
	if owner, _ := s2.NameOwner("front"); owner != "" {
		t.Fatalf("deleted container's name held by %q", owner)
	}
	list, err := s2.ListContainers()
	if err != nil || len(list) != 1 || list[0].ID != keep.ID {
		t.Fatalf("list after reopen: %v %v", list, err)
	}
	evs, _ = s2.Events(time.Time{}, time.Time{})
	if len(evs) != 2 || evs[1].Action != events.ActionDestroy {
		t.Fatalf("events after reopen: %+v", evs)
	}
}

func TestConcurrentPuts(t *testing.T) {
	s, path := openTemp(t, Options{})
	const writers, each = 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	ids := make([][]string, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c := sample(fmt.Sprintf("c%d_%d", w, i))
				ev := c.Event(events.ActionCreate, nil)
				if err := s.PutContainer(c, &ev); err != nil {
					errs <- err
					return
				}
				c2 := c.Clone()
				_ = c2.SetRunning(100+i, time.Now())
				ev = c2.Event(events.ActionStart, nil)
				if err := s.PutContainer(c2, &ev); err != nil {
					errs <- err
					return
				}
				ids[w] = append(ids[w], c.ID)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	list, err := s2.ListContainers()
	if err != nil || len(list) != writers*each {
		t.Fatalf("list: %d %v", len(list), err)
	}
	for _, c := range list {
		if c.State.Status != mobycontainer.StateRunning {
			t.Fatalf("%s lost its last put: %s", c.Name, c.State.Status)
		}
	}
	evs, _ := s2.Events(time.Time{}, time.Time{})
	if len(evs) != 2*writers*each {
		t.Fatalf("%d events, want %d", len(evs), 2*writers*each)
	}
}

func TestListFiveHundredFast(t *testing.T) {
	s, _ := openTemp(t, Options{})
	err := s.Batch(func(tx *bolt.Tx) error {
		for i := 0; i < 500; i++ {
			c := sample(fmt.Sprintf("n%d", i))
			data, _ := json.Marshal(c)
			if err := tx.Bucket(bucketContainers).Put([]byte(c.ID), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	best := time.Hour
	for i := 0; i < 5; i++ {
		start := time.Now()
		list, err := s.ListContainers()
		if err != nil || len(list) != 500 {
			t.Fatalf("%d %v", len(list), err)
		}
		best = min(best, time.Since(start))
	}
	t.Logf("500 records listed in %v", best)
	// Generous bound: the machine is shared; a few ms is typical.
	if best > 100*time.Millisecond {
		t.Fatalf("listing 500 records took %v", best)
	}
}

func TestEventLogBoundedAndRanged(t *testing.T) {
	s, path := openTemp(t, Options{EventLimit: 10})
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 25; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		ev := events.Message{Type: events.ImageEventType, Action: events.ActionPull, Actor: events.Actor{ID: fmt.Sprint(i)}, TimeNano: at.UnixNano()}
		if err := s.AppendEvent(&ev); err != nil {
			t.Fatal(err)
		}
		if ev.Time != at.Unix() {
			t.Fatalf("Time not derived from TimeNano: %d", ev.Time)
		}
	}
	all, _ := s.Events(time.Time{}, time.Time{})
	if len(all) != 10 || all[0].Actor.ID != "15" || all[9].Actor.ID != "24" {
		t.Fatalf("bounded log: %d events, first %v", len(all), all)
	}
	got, _ := s.Events(base.Add(17*time.Second), base.Add(19*time.Second))
	if len(got) != 3 || got[0].Actor.ID != "17" || got[2].Actor.ID != "19" {
		t.Fatalf("range: %+v", got)
	}
	s.Close()
	// The limit holds across reopen with a different, larger limit too.
	s2, err := Open(path, Options{EventLimit: 12})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ev := events.Message{Type: events.ImageEventType, Action: events.ActionTag, Actor: events.Actor{ID: "x"}}
	if err := s2.AppendEvent(&ev); err != nil {
		t.Fatal(err)
	}
	all, _ = s2.Events(time.Time{}, time.Time{})
	if len(all) != 11 || all[10].Actor.ID != "x" {
		t.Fatalf("after reopen: %d events", len(all))
	}
}

func TestPlugins(t *testing.T) {
	s, _ := openTemp(t, Options{})
	type rec struct{ Path string }
	if err := s.PutPlugin("bridge", rec{Path: "/usr/lib/berth/bridge"}); err != nil {
		t.Fatal(err)
	}
	var got rec
	if err := s.GetPlugin("bridge", &got); err != nil || got.Path != "/usr/lib/berth/bridge" {
		t.Fatalf("%+v %v", got, err)
	}
	all, _ := s.ListPlugins()
	if len(all) != 1 {
		t.Fatalf("list %v", all)
	}
	_ = s.DeletePlugin("bridge")
	if err := s.GetPlugin("bridge", &got); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
