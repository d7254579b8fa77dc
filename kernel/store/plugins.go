package store

import (
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/sdk/errdefs"
	bolt "go.etcd.io/bbolt"
)

// PutPlugin writes the record of a plugin (any JSON-encodable value).
func (s *Store) PutPlugin(name string, rec any) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("store: encode plugin %s: %w", name, err)
	}
	return s.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketPlugins).Put([]byte(name), data) })
}

// GetPlugin decodes the record of a plugin into into (errdefs.ErrNotFound if absent).
func (s *Store) GetPlugin(name string, into any) error {
	var data []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketPlugins).Get([]byte(name)); v != nil {
			data = append([]byte(nil), v...)
		}
		return nil
	}); err != nil {
		return err
	}
	if data == nil {
		return fmt.Errorf("store: plugin %s: %w", name, errdefs.ErrNotFound)
	}
	return json.Unmarshal(data, into)
}

// ListPlugins returns every plugin record, undecoded, by name.
func (s *Store) ListPlugins() (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPlugins).ForEach(func(k, v []byte) error {
			out[string(k)] = append(json.RawMessage(nil), v...)
			return nil
		})
	})
	return out, err
}

// DeletePlugin removes a plugin record; a missing one is not an error.
func (s *Store) DeletePlugin(name string) error {
	return s.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketPlugins).Delete([]byte(name)) })
}
