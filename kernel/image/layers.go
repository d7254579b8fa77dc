package image

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// chainIDs computes the OCI chain ids of a stack of diff ids:
// chain[0] = diff[0], chain[i] = sha256(chain[i-1] + " " + diff[i]).
func chainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

// newGraphID returns a random layer id for the graph driver. Random rather
// than derived from the chain id, so that a layer half-created by a crashed
// pull can never collide with its retry.
func newGraphID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pendingLayer is one layer of an image about to be recorded.
type pendingLayer struct {
	chainID string
	diffID  string
	// progressID is the id progress messages carry (12 hex of the blob digest).
	progressID string
	// blob returns the path of the layer's blob and its media type; it is
	// only called when the layer must be unpacked.
	blob func(ctx context.Context) (path, mediaType string, err error)
}

// applyLayers makes every layer of the stack exist, unpacking the missing
// ones through the graph driver bottom to top. It returns the chain ids it
// created (with reference count 0) so that the caller can commit them with
// an image or undo them. The caller holds layerMu.
func (s *Store) applyLayers(ctx context.Context, layers []pendingLayer, pw *progressWriter) (created []string, err error) {
	defer func() {
		if err != nil {
			s.removeLayers(ctx, created)
			created = nil
		}
	}()
	parentChain, parentGraph := "", ""
	for _, l := range layers {
		var rec *layerRecord
		if err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			rec, err = getLayerRecord(tx, l.chainID)
			return err
		}); err != nil {
			return created, err
		}
		if rec != nil {
			parentChain, parentGraph = rec.ChainID, rec.GraphID
			continue
		}
		path, mediaType, err := l.blob(ctx)
		if err != nil {
			return created, err
		}
		graphID := newGraphID()
		if err := s.driver.Create(ctx, graphID, parentGraph, false); err != nil {
			return created, fmt.Errorf("create layer %s: %w", l.chainID, err)
		}
		if pw != nil {
			pw.status(l.progressID, "Extracting")
		}
		size, err := s.driver.ApplyDiff(ctx, graphID, path, mediaType)
		if err != nil {
			s.driver.Remove(context.WithoutCancel(ctx), graphID)
			return created, fmt.Errorf("apply layer %s: %w", l.chainID, err)
		}
		rec = &layerRecord{ChainID: l.chainID, GraphID: graphID, DiffID: l.diffID, Parent: parentChain, Size: size}
		if err := s.db.Update(func(tx *bolt.Tx) error {
			return putJSON(tx.Bucket([]byte(BucketLayers)), l.chainID, rec)
		}); err != nil {
			s.driver.Remove(context.WithoutCancel(ctx), graphID)
			return created, fmt.Errorf("record layer %s: %w", l.chainID, err)
		}
		created = append(created, l.chainID)
		if pw != nil {
			pw.status(l.progressID, "Pull complete")
		}
		parentChain, parentGraph = rec.ChainID, rec.GraphID
	}
	return created, nil
}

// removeLayers removes the given layers, children first, from the graph
// driver and from layers/, skipping any that gained a reference meanwhile.
// A layer the driver cannot remove keeps its record (with count 0) and is
// retried by the next New. The caller holds layerMu.
func (s *Store) removeLayers(ctx context.Context, chainIDs []string) []string {
	ctx = context.WithoutCancel(ctx)
	var removed []string
	for i := len(chainIDs) - 1; i >= 0; i-- {
		chainID := chainIDs[i]
		var rec *layerRecord
		s.db.View(func(tx *bolt.Tx) error {
			rec, _ = getLayerRecord(tx, chainID)
			return nil
		})
		if rec == nil || rec.RefCount > 0 {
			continue
		}
		if err := s.driver.Remove(ctx, rec.GraphID); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			slog.Warn("image store: cannot remove layer; retried at next start", "chainID", chainID, "graphID", rec.GraphID, "err", err)
			continue
		}
		if err := s.db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(BucketLayers)).Delete([]byte(chainID))
		}); err != nil {
			slog.Warn("image store: cannot delete layer record", "chainID", chainID, "err", err)
			continue
		}
		removed = append(removed, chainID)
	}
	return removed
}

// removeUnreferencedLayers removes layers with reference count 0, left by
// a pull or import that was interrupted before it recorded its image.
func (s *Store) removeUnreferencedLayers(ctx context.Context) error {
	s.layerMu.Lock()
	defer s.layerMu.Unlock()
	all := map[string]layerRecord{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketLayers)).ForEach(func(k, v []byte) error {
			var rec layerRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("layer record %s: %w", k, err)
			}
			all[string(k)] = rec
			return nil
		})
	})
	if err != nil {
		return err
	}
	depth := func(id string) int {
		n := 0
		for p := all[id].Parent; p != ""; p = all[p].Parent {
			n++
		}
		return n
	}
	var orphans []string
	for id, rec := range all {
		if rec.RefCount == 0 {
			orphans = append(orphans, id)
		}
	}
	// removeLayers walks its argument backwards: put parents first.
	sort.Slice(orphans, func(i, j int) bool { return depth(orphans[i]) < depth(orphans[j]) })
	s.removeLayers(ctx, orphans)
	return nil
}

// commitImage records rec and points refs at it in one transaction. Unless
// the image was already recorded, it takes a reference on each of its layers
// and fills in its size. It reports whether the image existed and whether
// every ref already pointed at it (nothing changed: "up to date").
func commitImage(tx *bolt.Tx, rec *imageRecord, refs []string) (existed, unchanged bool, err error) {
	images := tx.Bucket([]byte(BucketImages))
	layers := tx.Bucket([]byte(BucketLayers))
	refsB := tx.Bucket([]byte(BucketRefs))
	existed = images.Get([]byte(rec.ID)) != nil
	if !existed {
		rec.Size = 0
		for _, chainID := range rec.ChainIDs {
			l, err := getLayerRecord(tx, chainID)
			if err != nil {
				return false, false, err
			}
			if l == nil {
				return false, false, fmt.Errorf("layer %s vanished before the image was recorded", chainID)
			}
			l.RefCount++
			rec.Size += l.Size
			if err := putJSON(layers, chainID, l); err != nil {
				return false, false, err
			}
		}
		if err := putJSON(images, rec.ID, rec); err != nil {
			return false, false, err
		}
	}
	unchanged = existed
	for _, r := range refs {
		if string(refsB.Get([]byte(r))) != rec.ID {
			unchanged = false
		}
		if err := refsB.Put([]byte(r), []byte(rec.ID)); err != nil {
			return false, false, err
		}
	}
	return existed, unchanged, nil
}
