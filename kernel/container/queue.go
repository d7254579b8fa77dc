package container

import (
	"context"
	"sync"
	"sync/atomic"
)

// Queue runs operations on one container in the order they arrive — API
// calls and runtime events alike — so an exit seen while Start is returning
// is applied after Start and never overwritten by it. Different containers
// proceed in parallel: each id has its own worker goroutine, created when work
// arrives and retired when its queue runs empty. The Queue's mutex guards only
// the map and the task lists, never a task.
type Queue struct {
	mu      sync.Mutex
	workers map[string]*worker
}

type worker struct {
	tasks []func()
}

// NewQueue returns an empty Queue.
func NewQueue() *Queue {
	return &Queue{workers: make(map[string]*worker)}
}

// Go appends fn to id's queue and returns at once. Use it where the caller
// must not block, such as the runtime event loop.
func (q *Queue) Go(id string, fn func()) {
	q.mu.Lock()
	w, ok := q.workers[id]
	if !ok {
		w = &worker{}
		q.workers[id] = w
	}
	w.tasks = append(w.tasks, fn)
	q.mu.Unlock()
	if !ok {
		go q.run(id, w)
	}
}

func (q *Queue) run(id string, w *worker) {
	for {
		q.mu.Lock()
		if len(w.tasks) == 0 {
			// Retire under the lock: a Go that comes after this sees no worker
			// and starts a new one, so no task is stranded.
			delete(q.workers, id)
			q.mu.Unlock()
			return
		}
		fn := w.tasks[0]
		w.tasks[0] = nil
		w.tasks = w.tasks[1:]
		q.mu.Unlock()
		fn()
	}
}

// Do appends fn to id's queue and waits for its result. If ctx ends while fn
// is still queued, fn is skipped and ctx.Err() returned; once fn has started,
// Do waits for it to finish, so a caller never sees a half-applied operation
// reported as cancelled.
func (q *Queue) Do(ctx context.Context, id string, fn func() error) error {
	const (
		queued int32 = iota
		started
		skipped
	)
	var state atomic.Int32
	done := make(chan error, 1)
	q.Go(id, func() {
		if !state.CompareAndSwap(queued, started) {
			return
		}
		done <- fn()
	})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if state.CompareAndSwap(queued, skipped) {
			return ctx.Err()
		}
		return <-done
	}
}

// Workers returns the number of ids that currently have a worker; it is for
// metrics and tests.
func (q *Queue) Workers() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.workers)
}
