package container

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/berth-dev/berth/sdk/errdefs"
	mobycontainer "github.com/moby/moby/api/types/container"
)

// Registry holds the in-memory snapshots of all containers, indexed by id and
// by name, and the waiters registered on them. Snapshots are immutable (see
// the package comment): Update replaces one and, comparing the old state with
// the new, releases the waiters whose condition has come.
type Registry struct {
	mu      sync.RWMutex
	byID    map[string]*Container
	byName  map[string]string // name without '/' → id
	waiters map[string][]*waiter
}

// WaitResult is what a waiter receives: the container's exit code and error
// at the moment its condition came, and whether it came by removal.
type WaitResult struct {
	ExitCode int
	Error    string
	Removed  bool
}

type waiter struct {
	cond mobycontainer.WaitCondition
	ch   chan WaitResult
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{
		byID:    make(map[string]*Container),
		byName:  make(map[string]string),
		waiters: make(map[string][]*waiter),
	}
}

func nameConflict(name, id string) error {
	return &classError{
		msg: fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.",
			CanonicalName(name), id),
		classes: []error{errdefs.ErrConflict},
	}
}

func notFound(ref string) error {
	return &classError{msg: "No such container: " + ref, classes: []error{errdefs.ErrNotFound}}
}

// Add inserts a new container. Its id and name must both be free
// (errdefs.ErrConflict otherwise).
func (r *Registry) Add(c *Container) error {
	name := NormalizeName(c.Name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[c.ID]; ok {
		return &classError{msg: fmt.Sprintf("container %s already exists", c.ID), classes: []error{errdefs.ErrConflict}}
	}
	if other, ok := r.byName[name]; ok {
		return nameConflict(name, other)
	}
	r.byID[c.ID] = c
	r.byName[name] = c.ID
	return nil
}

// Update replaces the snapshot of an existing container (errdefs.ErrNotFound
// if it is gone), follows a rename (errdefs.ErrConflict if the new name is
// taken), and releases waiters: not-running and next-exit waiters when the
// container stopped or entered a restart.
func (r *Registry) Update(c *Container) error {
	name := NormalizeName(c.Name)
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.byID[c.ID]
	if !ok {
		return notFound(c.ID)
	}
	oldName := NormalizeName(old.Name)
	if name != oldName {
		if other, taken := r.byName[name]; taken && other != c.ID {
			return nameConflict(name, other)
		}
		delete(r.byName, oldName)
		r.byName[name] = c.ID
	}
	r.byID[c.ID] = c
	stopped := old.State.Running && !c.State.Running
	restarted := c.State.Restarting && !old.State.Restarting
	if stopped || restarted {
		r.release(c, false, func(w *waiter) bool { return w.cond != mobycontainer.WaitConditionRemoved })
	}
	return nil
}

// Remove drops a container and releases every waiter on it (removed waiters
// and any others, which would otherwise wait forever).
func (r *Registry) Remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.byID[id]
	if !ok {
		return
	}
	delete(r.byID, id)
	if r.byName[NormalizeName(c.Name)] == id {
		delete(r.byName, NormalizeName(c.Name))
	}
	r.release(c, true, func(*waiter) bool { return true })
}

// release sends the result to the matching waiters of c and forgets them.
// r.mu must be held.
func (r *Registry) release(c *Container, removed bool, match func(*waiter) bool) {
	res := WaitResult{ExitCode: c.State.ExitCode, Error: c.State.Error, Removed: removed}
	ws := r.waiters[c.ID]
	kept := ws[:0]
	for _, w := range ws {
		if match(w) {
			w.ch <- res // buffered with room for exactly this one result
		} else {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		delete(r.waiters, c.ID)
	} else {
		r.waiters[c.ID] = kept
	}
}

// Wait registers a waiter on the container with the given full id for a
// condition ("" means not-running, as in the API). The channel receives one
// result; cancel unregisters a waiter that is no longer wanted (it is safe to
// call after the result came). A not-running waiter on a container that is
// not running gets its result at once.
func (r *Registry) Wait(id string, cond mobycontainer.WaitCondition) (<-chan WaitResult, func(), error) {
	switch cond {
	case "":
		cond = mobycontainer.WaitConditionNotRunning
	case mobycontainer.WaitConditionNotRunning, mobycontainer.WaitConditionNextExit, mobycontainer.WaitConditionRemoved:
	default:
		return nil, nil, fmt.Errorf("invalid condition: %q: %w", cond, errdefs.ErrInvalidArgument)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.byID[id]
	if !ok {
		return nil, nil, notFound(id)
	}
	w := &waiter{cond: cond, ch: make(chan WaitResult, 1)}
	if cond == mobycontainer.WaitConditionNotRunning && !c.State.Running {
		w.ch <- WaitResult{ExitCode: c.State.ExitCode, Error: c.State.Error}
		return w.ch, func() {}, nil
	}
	r.waiters[id] = append(r.waiters[id], w)
	cancel := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		ws := r.waiters[id]
		for i, x := range ws {
			if x == w {
				r.waiters[id] = append(ws[:i:i], ws[i+1:]...)
				if len(r.waiters[id]) == 0 {
					delete(r.waiters, id)
				}
				return
			}
		}
	}
	return w.ch, cancel, nil
}

// Get finds a container the way dockerd does: by full id, then by name (with
// or without the leading '/'), then by unique id prefix. A missing container
// is errdefs.ErrNotFound ("No such container: x"); a prefix shared by several
// ids is errdefs.ErrInvalidArgument.
func (r *Registry) Get(ref string) (*Container, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if ref != "" {
		if c, ok := r.byID[ref]; ok {
			return c, nil
		}
		if id, ok := r.byName[NormalizeName(ref)]; ok {
			return r.byID[id], nil
		}
		var found *Container
		for id, c := range r.byID {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, &classError{
						msg:     fmt.Sprintf("multiple IDs found with provided prefix: %s", ref),
						classes: []error{errdefs.ErrInvalidArgument},
					}
				}
				found = c
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, notFound(ref)
}

// ByID returns the container with exactly this id.
func (r *Registry) ByID(id string) (*Container, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.byID[id]
	return c, ok
}

// NameOwner returns the id of the container holding name, if any.
func (r *Registry) NameOwner(name string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	id, ok := r.byName[NormalizeName(name)]
	return id, ok
}

// List returns all snapshots, newest first (the order of `docker ps`).
func (r *Registry) List() []*Container {
	r.mu.RLock()
	out := make([]*Container, 0, len(r.byID))
	for _, c := range r.byID {
		out = append(out, c)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Len returns the number of containers.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byID)
}
