package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	bolt "go.etcd.io/bbolt"
)

// Import records a root filesystem tar (plain, gzip or zstd) read from r as
// a one-layer image for this host's platform, tagged repoTag ("" leaves it
// untagged), with changes (`docker import --change`) applied to its config.
// It serves POST /images/create?fromSrc=-; like dockerd it writes the new
// image id as the last progress message. It returns the id.
func (s *Store) Import(ctx context.Context, r io.Reader, repoTag string, changes []string, progress io.Writer) (string, error) {
	var named reference.Named
	if repoTag != "" {
		var err error
		if named, err = ParseReference(repoTag); err != nil {
			return "", err
		}
		if _, ok := named.(reference.Canonical); ok {
			return "", invalidf("cannot import to a digest reference %s", repoTag)
		}
	}
	cfgBody := v1.Config{}
	if err := applyChanges(&cfgBody, changes); err != nil {
		return "", err
	}
	pw := newProgressWriter(progress)

	blobDigest, _, err := s.content.ingest(&ctxReader{ctx: ctx, r: r}, "", nil)
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	blobPath, _ := s.content.path(blobDigest)
	diffID, mediaType, err := diffIDOf(blobPath)
	if err != nil {
		s.removeBlobIfUnused(blobDigest)
		return "", invalidf("import: not a tar archive: %v", err)
	}
	hash, err := v1.NewHash(diffID)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	cfg := v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: now},
		Config:       cfgBody,
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{hash}},
		History:      []v1.History{{Created: v1.Time{Time: now}, Comment: "Imported from -"}},
	}
	if hp := hostPlatform(); hp.Variant != "" {
		cfg.Variant = hp.Variant
	}
	rawConfig, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(rawConfig)
	id := "sha256:" + hex.EncodeToString(sum[:])
	if _, _, err := s.content.ingest(bytes.NewReader(rawConfig), id, nil); err != nil {
		return "", fmt.Errorf("import: store config: %w", err)
	}
	rec := &imageRecord{
		ID:       id,
		Config:   rawConfig,
		ChainIDs: []string{diffID},
		Blobs:    []string{blobDigest, id},
		Recorded: now,
	}
	var refs []string
	if named != nil {
		refs = []string{named.String()}
	}

	s.layerMu.Lock()
	defer s.layerMu.Unlock()
	created, err := s.applyLayers(ctx, []pendingLayer{{
		chainID: diffID,
		diffID:  diffID,
		blob: func(context.Context) (string, string, error) {
			return blobPath, mediaType, nil
		},
	}}, nil)
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		_, _, err := commitImage(tx, rec, refs)
		return err
	}); err != nil {
		s.removeLayers(ctx, created)
		return "", fmt.Errorf("import: record image: %w", err)
	}
	pw.status("", id)
	return id, nil
}

// removeBlobIfUnused drops a blob that no recorded image names.
func (s *Store) removeBlobIfUnused(dgst string) {
	var unused []string
	s.db.View(func(tx *bolt.Tx) error {
		unused = unusedBlobs(tx, []string{dgst})
		return nil
	})
	for _, b := range unused {
		s.content.remove(b)
	}
}
