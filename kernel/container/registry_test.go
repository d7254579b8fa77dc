package container

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/sdk/errdefs"
	mobycontainer "github.com/moby/moby/api/types/container"
)

func TestRegistryLookup(t *testing.T) {
	r := NewRegistry()
	a := &Container{ID: "abc1" + NewID()[4:], Name: "/web", Created: t0}
	b := &Container{ID: "abc2" + NewID()[4:], Name: "/db", Created: t0.Add(time.Second)}
	// A container whose name looks like a prefix of another's id: names win.
	c := &Container{ID: "ffff" + NewID()[4:], Name: "/abc1", Created: t0.Add(2 * time.Second)}
	for _, x := range []*Container{a, b, c} {
		if err := r.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]*Container{a.ID: a, "web": a, "/web": a, "abc2": b, b.ID[:12]: b, "db": b, "abc1": c}
	for ref, want := range cases {
		got, err := r.Get(ref)
		if err != nil || got != want {
			t.Errorf("Get(%q) = %v, %v; want %s", ref, got, err, want.ID)
		}
	}
	if _, err := r.Get("abc"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := r.Get("nope"); !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "No such container: nope" {
		t.Errorf("missing: %v", err)
	}
	if _, err := r.Get(""); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("empty ref: %v", err)
	}
	if err := r.Add(&Container{ID: NewID(), Name: "web"}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("duplicate name: %v", err)
	}
	list := r.List()
	if len(list) != 3 || list[0] != c || list[2] != a {
		t.Errorf("List not newest first")
	}

	renamed := a.Clone()
	renamed.Name = "/front"
	if err := r.Update(renamed); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get("web"); err == nil {
		t.Error("old name still resolves")
	}
	if got, _ := r.Get("front"); got != renamed {
		t.Error("new name does not resolve")
	}
	clash := b.Clone()
	clash.Name = "/front"
	if err := r.Update(clash); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("rename onto taken name: %v", err)
	}
	r.Remove(b.ID)
	if _, err := r.Get("db"); err == nil || r.Len() != 2 {
		t.Error("removed container still found")
	}
}

func recv(t *testing.T, ch <-chan WaitResult) (WaitResult, bool) {
	t.Helper()
	select {
	case res := <-ch:
		return res, true
	case <-time.After(30 * time.Millisecond):
		return WaitResult{}, false
	}
}

func TestWaiters(t *testing.T) {
	r := NewRegistry()
	c := &Container{ID: NewID(), Name: "/w"}
	c.settle()
	if err := r.Add(c); err != nil {
		t.Fatal(err)
	}
	// not-running on a created container answers at once.
	ch, _, err := r.Wait(c.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if res, ok := recv(t, ch); !ok || res.ExitCode != 0 {
		t.Fatalf("immediate not-running: %v %v", res, ok)
	}
	// next-exit registered before start (docker run does this) waits through the start.
	nextExit, _, _ := r.Wait(c.ID, mobycontainer.WaitConditionNextExit)
	removed, _, _ := r.Wait(c.ID, mobycontainer.WaitConditionRemoved)
	cancelled, cancel, _ := r.Wait(c.ID, mobycontainer.WaitConditionNextExit)
	cancel()

	run := c.Clone()
	if err := run.SetRunning(10, t0); err != nil {
		t.Fatal(err)
	}
	if err := r.Update(run); err != nil {
		t.Fatal(err)
	}
	if _, ok := recv(t, nextExit); ok {
		t.Fatal("next-exit released by start")
	}
	notRunning, _, _ := r.Wait(c.ID, mobycontainer.WaitConditionNotRunning)
	if _, ok := recv(t, notRunning); ok {
		t.Fatal("not-running released while running")
	}

	exited := run.Clone()
	if err := exited.SetExited(3, t0.Add(time.Second), "boom"); err != nil {
		t.Fatal(err)
	}
	if err := r.Update(exited); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan WaitResult{"next-exit": nextExit, "not-running": notRunning} {
		res, ok := recv(t, ch)
		if !ok || res.ExitCode != 3 || res.Error != "boom" || res.Removed {
			t.Fatalf("%s: %+v %v", name, res, ok)
		}
	}
	if _, ok := recv(t, cancelled); ok {
		t.Fatal("cancelled waiter was released")
	}
	if _, ok := recv(t, removed); ok {
		t.Fatal("removed waiter released by exit")
	}
	r.Remove(c.ID)
	if res, ok := recv(t, removed); !ok || !res.Removed || res.ExitCode != 3 {
		t.Fatalf("removed: %+v %v", res, ok)
	}
	if _, _, err := r.Wait(c.ID, ""); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("wait on removed: %v", err)
	}
	if _, _, err := r.Wait(c.ID, "bogus"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("bad condition: %v", err)
	}
}

func TestWaiterReleasedOnRestart(t *testing.T) {
	r := NewRegistry()
	c := &Container{ID: NewID(), Name: "/r"}
	if err := c.SetRunning(1, t0); err != nil {
		t.Fatal(err)
	}
	_ = r.Add(c)
	ch, _, _ := r.Wait(c.ID, mobycontainer.WaitConditionNextExit)
	n := c.Clone()
	if err := n.SetRestarting(2, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_ = r.Update(n)
	if res, ok := recv(t, ch); !ok || res.ExitCode != 2 {
		t.Fatalf("restart did not release next-exit: %+v %v", res, ok)
	}
}
