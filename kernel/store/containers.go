package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"

	"github.com/berth-dev/berth/kernel/container"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"
)

// nameConflict is worded like dockerd's, so the CLI user sees the familiar text.
type nameConflict struct{ name, id string }

func (e *nameConflict) Error() string {
	return fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.",
		container.CanonicalName(e.name), e.id)
}
func (e *nameConflict) Unwrap() error { return errdefs.ErrConflict }

// ReserveName claims name (with or without '/') for id. Claiming a name id
// already holds is a no-op; a name held by another container is
// errdefs.ErrConflict with dockerd's message.
func (s *Store) ReserveName(name, id string) error {
	key := []byte(container.NormalizeName(name))
	return s.db.Batch(func(tx *bolt.Tx) error { return reserve(tx, key, id) })
}

func reserve(tx *bolt.Tx, key []byte, id string) error {
	b := tx.Bucket(bucketNames)
	if cur := b.Get(key); cur != nil {
		if string(cur) == id {
			return nil
		}
		return &nameConflict{name: string(key), id: string(cur)}
	}
	return b.Put(key, []byte(id))
}

// ReleaseName frees name; releasing a free name is not an error.
func (s *Store) ReleaseName(name string) error {
	key := []byte(container.NormalizeName(name))
	return s.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketNames).Delete(key) })
}

// NameOwner returns the id holding name, or "" when it is free.
func (s *Store) NameOwner(name string) (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketNames).Get([]byte(container.NormalizeName(name))))
		return nil
	})
	return id, err
}

// PutContainer writes c and, when ev is not nil, its event in one
// transaction. The record's name is claimed for it (errdefs.ErrConflict if
// another container holds it), and a name the previous version of the record
// held is released, so a rename is atomic. ev is stamped in place (time,
// scope) so the caller can publish the very message that was persisted.
func (s *Store) PutContainer(c *container.Container, ev *events.Message) error {
	if !container.IsFullID(c.ID) {
		return fmt.Errorf("store: container id %q is not 64 hex: %w", c.ID, errdefs.ErrInvalidArgument)
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("store: encode container %s: %w", c.ID, err)
	}
	evData, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	id := []byte(c.ID)
	name := []byte(container.NormalizeName(c.Name))
	err = s.db.Batch(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketContainers)
		if old := recs.Get(id); old != nil {
			var prev struct{ Name string }
			if err := json.Unmarshal(old, &prev); err == nil {
				oldName := []byte(container.NormalizeName(prev.Name))
				names := tx.Bucket(bucketNames)
				if !bytes.Equal(oldName, name) && bytes.Equal(names.Get(oldName), id) {
					if err := names.Delete(oldName); err != nil {
						return err
					}
				}
			}
		}
		if len(name) > 0 {
			if err := reserve(tx, name, c.ID); err != nil {
				return err
			}
		}
		if err := recs.Put(id, data); err != nil {
			return err
		}
		if evData != nil {
			return s.appendEncoded(tx, evData)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put container %s: %w", c.ID, err)
	}
	return nil
}

// GetContainer reads one record (errdefs.ErrNotFound if absent).
func (s *Store) GetContainer(id string) (*container.Container, error) {
	var data []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketContainers).Get([]byte(id)); v != nil {
			data = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: get container %s: %w", id, err)
	}
	if data == nil {
		return nil, fmt.Errorf("store: container %s: %w", id, errdefs.ErrNotFound)
	}
	c := new(container.Container)
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("store: decode container %s: %w", id, err)
	}
	return c, nil
}

// ListContainers reads every record, in id order. Decoding dominates, so it
// runs on all CPUs after the read transaction has ended.
func (s *Store) ListContainers() ([]*container.Container, error) {
	var raw [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContainers).ForEach(func(_, v []byte) error {
			raw = append(raw, append([]byte(nil), v...))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list containers: %w", err)
	}
	out := make([]*container.Container, len(raw))
	errs := make([]error, len(raw))
	workers := min(runtime.GOMAXPROCS(0), len(raw))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(raw); i += workers {
				c := new(container.Container)
				if err := json.Unmarshal(raw[i], c); err != nil {
					errs[i] = err
					continue
				}
				out[i] = c
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("store: decode container record %d: %w", i, err)
		}
	}
	return out, nil
}

// DeleteContainer removes the record, its name and, when ev is not nil,
// appends ev, in one transaction. Deleting a missing record is not an error
// (removal may be retried after a crash); ev is still written.
func (s *Store) DeleteContainer(id string, ev *events.Message) error {
	evData, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	key := []byte(id)
	err = s.db.Batch(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketContainers)
		if old := recs.Get(key); old != nil {
			var prev struct{ Name string }
			if err := json.Unmarshal(old, &prev); err == nil {
				names := tx.Bucket(bucketNames)
				name := []byte(container.NormalizeName(prev.Name))
				if bytes.Equal(names.Get(name), key) {
					if err := names.Delete(name); err != nil {
						return err
					}
				}
			}
			if err := recs.Delete(key); err != nil {
				return err
			}
		}
		if evData != nil {
			return s.appendEncoded(tx, evData)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete container %s: %w", id, err)
	}
	return nil
}
