package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/kernel/container"
	bolt "go.etcd.io/bbolt"
)

// Migration moves one schema from version i to i+1 inside the write
// transaction that opens the database. It must leave other schemas' buckets
// alone.
type Migration func(tx *bolt.Tx) error

// Schema is a set of buckets owned by one package, described by the
// migrations that create and evolve them: Migrations[i] takes the schema from
// version i to i+1, so version 0 is "not there yet" and the current version
// is len(Migrations). Migrations are only ever appended.
type Schema struct {
	// Name keys the schema's version in the meta bucket; it must be unique.
	Name       string
	Migrations []Migration
}

// Version returns the version this code writes.
func (s Schema) Version() uint64 { return uint64(len(s.Migrations)) }

// kernelSchema is the store's own schema (drawn in schema.go).
var kernelSchema = Schema{
	Name: kernelSchemaName,
	Migrations: []Migration{
		migrateV1CreateBuckets,
		migrateV2NamesIndex,
	},
}

func migrateV1CreateBuckets(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketContainers, bucketEvents, bucketPlugins} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return nil
}

// migrateV2NamesIndex builds the names index from the records. Should two
// records claim one name (which version 1 could not prevent), the first by id
// keeps it; the other container remains reachable by id and can be renamed.
func migrateV2NamesIndex(tx *bolt.Tx) error {
	names, err := tx.CreateBucketIfNotExists(bucketNames)
	if err != nil {
		return fmt.Errorf("create bucket names: %w", err)
	}
	return tx.Bucket(bucketContainers).ForEach(func(id, data []byte) error {
		var rec struct{ Name string }
		if err := json.Unmarshal(data, &rec); err != nil {
			return fmt.Errorf("container %s: decode: %w", id, err)
		}
		name := []byte(container.NormalizeName(rec.Name))
		if len(name) == 0 || names.Get(name) != nil {
			return nil
		}
		return names.Put(name, append([]byte(nil), id...))
	})
}

func versionKey(schema string) []byte {
	if schema == kernelSchemaName {
		return keyVersion
	}
	return []byte("version." + schema)
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// migrate brings every schema to its current version in tx. A database
// written by a newer berthd (a higher version than this code knows) is
// refused rather than misread.
func migrate(tx *bolt.Tx, schemas []Schema) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("create bucket meta: %w", err)
	}
	for _, s := range schemas {
		key := versionKey(s.Name)
		var have uint64
		if v := meta.Get(key); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("schema %s: corrupt version value %x", s.Name, v)
			}
			have = binary.BigEndian.Uint64(v)
		}
		if have > s.Version() {
			return fmt.Errorf("schema %s is at version %d, newer than this berthd supports (%d)", s.Name, have, s.Version())
		}
		for v := have; v < s.Version(); v++ {
			if err := s.Migrations[v](tx); err != nil {
				return fmt.Errorf("schema %s: migrate %d→%d: %w", s.Name, v, v+1, err)
			}
		}
		if err := meta.Put(key, u64(s.Version())); err != nil {
			return fmt.Errorf("schema %s: write version: %w", s.Name, err)
		}
	}
	return nil
}
