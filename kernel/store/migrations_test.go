package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/kernel/container"
	bolt "go.etcd.io/bbolt"
)

// writeOldDB builds a database as an older berthd left it: the given schemas
// migrated only that far, then fill writes its data.
func writeOldDB(t *testing.T, path string, schemas []Schema, fill func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := migrate(tx, schemas); err != nil {
			return err
		}
		return fill(tx)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateKernelV1ToV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.db")
	v1 := Schema{Name: kernelSchemaName, Migrations: kernelSchema.Migrations[:1]}
	a, b, dup := sample("alpha"), sample("beta"), sample("alpha")
	writeOldDB(t, path, []Schema{v1}, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketNames) != nil {
			t.Fatal("version 1 already has a names bucket")
		}
		for _, c := range []*container.Container{a, b, dup} {
			data, _ := json.Marshal(c)
			if err := tx.Bucket(bucketContainers).Put([]byte(c.ID), data); err != nil {
				return err
			}
		}
		return nil
	})
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Version(kernelSchemaName); v != 2 {
		t.Fatalf("version %d after migration", v)
	}
	if owner, _ := s.NameOwner("beta"); owner != b.ID {
		t.Fatalf("beta owned by %q", owner)
	}
	first := min(a.ID, dup.ID)
	if owner, _ := s.NameOwner("/alpha"); owner != first {
		t.Fatalf("duplicate name went to %q, want first id %q", owner, first)
	}
	if got, err := s.GetContainer(a.ID); err != nil || got.Config.Image != "busybox" {
		t.Fatalf("record after migration: %v", err)
	}
}

func TestRegisteredSchemaMigrates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.db")
	createRefs := func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte("image.refs"))
		return err
	}
	// Version 2 of the image schema lower-cases stored references.
	lowerRefs := func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("image.refs"))
		updates := map[string][]byte{}
		if err := b.ForEach(func(k, v []byte) error {
			updates[strings.ToLower(string(k))] = append([]byte(nil), v...)
			return nil
		}); err != nil {
			return err
		}
		for k := range updates {
			_ = b.Delete([]byte(strings.ToUpper(k)))
		}
		for k, v := range updates {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}
	old := Schema{Name: "image", Migrations: []Migration{createRefs}}
	writeOldDB(t, path, []Schema{kernelSchema, old}, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("image.refs")).Put([]byte("BUSYBOX"), []byte("sha256:1"))
	})
	cur := Schema{Name: "image", Migrations: []Migration{createRefs, lowerRefs}}
	s, err := Open(path, Options{Schemas: []Schema{cur}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Version("image"); v != 2 {
		t.Fatalf("image schema at %d", v)
	}
	_ = s.View(func(tx *bolt.Tx) error {
		if got := tx.Bucket([]byte("image.refs")).Get([]byte("busybox")); string(got) != "sha256:1" {
			t.Fatalf("migrated data %q", got)
		}
		return nil
	})
	s.Close()

	// An older berthd (knowing only version 1) refuses the newer database.
	if _, err := Open(path, Options{Schemas: []Schema{old}}); err == nil || !strings.Contains(err.Error(), "newer than this berthd supports") {
		t.Fatalf("downgrade: %v", err)
	}
	// Schema names must be unique.
	if _, err := Open(path, Options{Schemas: []Schema{cur, cur}}); err == nil {
		t.Fatal("duplicate schema accepted")
	}
	// A failing migration leaves the database untouched.
	boom := Schema{Name: "net", Migrations: []Migration{createRefs, func(*bolt.Tx) error { return errors.New("boom") }}}
	if _, err := Open(path, Options{Schemas: []Schema{cur, boom}}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing migration: %v", err)
	}
	s, err = Open(path, Options{Schemas: []Schema{cur}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Version("net"); v != 0 {
		t.Fatalf("failed migration left version %d", v)
	}
}
