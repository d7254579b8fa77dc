package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultEventLimit is how many events the persisted log keeps.
const DefaultEventLimit = 10000

// Options configure Open.
type Options struct {
	// Timeout bounds the wait for bbolt's file lock, so a second berthd on
	// the same root fails fast. Zero means one second.
	Timeout time.Duration
	// EventLimit is the number of events kept; zero means DefaultEventLimit.
	EventLimit int
	// BatchDelay is how long a write waits for others to share its commit;
	// zero means one millisecond.
	BatchDelay time.Duration
	// Schemas are other packages' buckets and migrations, migrated after
	// the kernel's own in the order given.
	Schemas []Schema
}

func (o Options) batchDelay() time.Duration {
	if o.BatchDelay > 0 {
		return o.BatchDelay
	}
	return time.Millisecond
}

// Store is the open database.
type Store struct {
	db         *bolt.DB
	eventLimit uint64
}

// Open opens (creating if needed) the database at path and migrates the
// kernel's schema and opts.Schemas to their current versions in one
// transaction. A database locked by another process gives
// errdefs.ErrUnavailable after opts.Timeout.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	if opts.EventLimit <= 0 {
		opts.EventLimit = DefaultEventLimit
	}
	schemas := append([]Schema{kernelSchema}, opts.Schemas...)
	seen := map[string]bool{}
	for _, s := range schemas {
		if s.Name == "" || seen[s.Name] {
			return nil, fmt.Errorf("store: schema name %q empty or used twice: %w", s.Name, errdefs.ErrInvalidArgument)
		}
		seen[s.Name] = true
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: database is in use by another process: %w", path, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// bbolt's Batch waits up to MaxBatchDelay (10ms by default) for more
	// writers before it commits. A lone `docker run` makes five transitions
	// in a row, so that wait is pure latency; 1ms still lets concurrent
	// transitions share one commit and its fsyncs.
	db.MaxBatchDelay = opts.batchDelay()
	if err := db.Update(func(tx *bolt.Tx) error { return migrate(tx, schemas) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return &Store{db: db, eventLimit: uint64(opts.EventLimit)}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the bbolt handle for packages that keep their own buckets.
func (s *Store) DB() *bolt.DB { return s.db }

// Batch runs fn in a write transaction shared with concurrent callers (one
// fsync for all). As with bolt.DB.Batch, fn may run more than once and must
// only change the database.
func (s *Store) Batch(fn func(tx *bolt.Tx) error) error { return s.db.Batch(fn) }

// View runs fn in a read transaction.
func (s *Store) View(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

// Version returns the stored version of a schema ("kernel" for the store's own).
func (s *Store) Version(schema string) (uint64, error) {
	var v uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(versionKey(schema)); len(b) == 8 {
			v = binary.BigEndian.Uint64(b)
		}
		return nil
	})
	return v, err
}

// StampEvent fills the fields of ev a caller may leave empty (time, scope),
// so the message persisted and the one published are the same.
func StampEvent(ev *events.Message) {
	if ev.TimeNano == 0 {
		now := time.Now()
		ev.Time, ev.TimeNano = now.Unix(), now.UnixNano()
	} else if ev.Time == 0 {
		ev.Time = ev.TimeNano / int64(time.Second)
	}
	if ev.Scope == "" {
		ev.Scope = "local"
	}
}

// AppendEventTx stamps ev and appends it inside tx, trimming the log;
// packages writing their own records in a Batch use it to persist the record
// and its event together. Stamping is idempotent, so a Batch retry of fn
// writes the same message.
func (s *Store) AppendEventTx(tx *bolt.Tx, ev *events.Message) error {
	data, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	return s.appendEncoded(tx, data)
}

func (s *Store) appendEncoded(tx *bolt.Tx, data []byte) error {
	b := tx.Bucket(bucketEvents)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("event sequence: %w", err)
	}
	if err := b.Put(u64(seq), data); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if seq <= s.eventLimit {
		return nil
	}
	// Keys are contiguous sequence numbers, so usually exactly one goes.
	cutoff := seq - s.eventLimit
	var old [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= cutoff; k, _ = c.Next() {
		old = append(old, k)
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("trim events: %w", err)
		}
	}
	return nil
}

// encodeEvent stamps and encodes ev (nil gives nil).
func encodeEvent(ev *events.Message) ([]byte, error) {
	if ev == nil {
		return nil, nil
	}
	StampEvent(ev)
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return data, nil
}

// AppendEvent persists an event on its own (for events with no record
// change, such as attach or kill). ev is stamped in place.
func (s *Store) AppendEvent(ev *events.Message) error {
	data, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	return s.db.Batch(func(tx *bolt.Tx) error { return s.appendEncoded(tx, data) })
}

// Events returns the persisted events whose time lies in [since, until]
// (a zero until means no upper bound), oldest first in log order.
func (s *Store) Events(since, until time.Time) ([]events.Message, error) {
	// Events are written in nearly time order (times are taken just before
	// the batch that writes them), so scanning backwards can stop a margin
	// past since.
	const margin = 5 * time.Second
	sinceNano := since.UnixNano()
	stopNano := since.Add(-margin).UnixNano()
	var out []events.Message
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var ev events.Message
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("event %d: decode: %w", binary.BigEndian.Uint64(k), err)
			}
			if !since.IsZero() && ev.TimeNano < stopNano {
				break
			}
			if (!since.IsZero() && ev.TimeNano < sinceNano) || (!until.IsZero() && ev.TimeNano > until.UnixNano()) {
				continue
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read events: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
