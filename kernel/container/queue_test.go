package container

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestQueueOrderPerID(t *testing.T) {
	q := NewQueue()
	const ids, n = 8, 200
	var mu sync.Mutex
	got := map[string][]int{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		for k := 0; k < ids; k++ {
			id := fmt.Sprintf("c%d", k)
			wg.Add(1)
			q.Go(id, func() {
				defer wg.Done()
				mu.Lock()
				got[id] = append(got[id], i)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for id, seq := range got {
		if len(seq) != n {
			t.Fatalf("%s ran %d of %d", id, len(seq), n)
		}
		for i, v := range seq {
			if v != i {
				t.Fatalf("%s out of order at %d: %v", id, i, seq[:i+1])
			}
		}
	}
	waitFor(t, func() bool { return q.Workers() == 0 }, "workers to retire")
}

func TestQueueSerialWithinIDParallelAcross(t *testing.T) {
	q := NewQueue()
	release := make(chan struct{})
	started := make(chan string, 4)
	var inA int
	var mu sync.Mutex
	for i := 0; i < 2; i++ {
		q.Go("a", func() {
			mu.Lock()
			inA++
			if inA > 1 {
				t.Error("two tasks of a ran at once")
			}
			mu.Unlock()
			started <- "a"
			<-release
			mu.Lock()
			inA--
			mu.Unlock()
		})
	}
	// b must run while a is blocked: no global serialisation.
	if err := q.Do(context.Background(), "b", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if s := <-started; s != "a" {
		t.Fatal(s)
	}
	select {
	case <-started:
		t.Fatal("second task of a started while the first was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-started
}

func TestQueueDoCancelledWhileQueued(t *testing.T) {
	q := NewQueue()
	block := make(chan struct{})
	q.Go("a", func() { <-block })
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	errc := make(chan error)
	go func() { errc <- q.Do(ctx, "a", func() error { ran = true; return nil }) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do returned %v", err)
	}
	close(block)
	// A later task proves the skipped one was passed over, not run.
	if err := q.Do(context.Background(), "a", func() error { return errors.New("later") }); err == nil || err.Error() != "later" {
		t.Fatalf("later task: %v", err)
	}
	if ran {
		t.Fatal("cancelled task ran")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
