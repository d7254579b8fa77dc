package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// AuthConfig is the credential a pull carries, decoded by the API from the
// X-Registry-Auth header (base64url JSON).
type AuthConfig = registry.AuthConfig

// hostPlatform is the platform picked from multi-platform images.
func hostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// Pull fetches ref from its registry and records it, writing Docker JSON
// progress messages to progress (nil discards them). auth nil or empty means
// the configured keychain (by default the Docker config file). platform
// ("os/arch[/variant]", "" for this host) picks from a multi-platform index.
//
// Layers download in parallel into the content store, each verified against
// its digest and its uncompressed content against the config's diff id;
// then they are unpacked in order through the graph driver, layers already
// present (by chain id) being shared; finally the image and its references
// are recorded in one transaction. Errors: a bad reference or platform is
// errdefs.ErrInvalidArgument, an unknown repository, tag or manifest
// errdefs.ErrNotFound (with dockerd's messages), refused credentials
// ErrUnauthorized. Pull writes no error line itself: once progress has
// started the caller sends the error in-band (WriteJSONError).
func (s *Store) Pull(ctx context.Context, ref string, auth *AuthConfig, platform string, progress io.Writer) error {
	named, err := ParseReference(ref)
	if err != nil {
		return err
	}
	plat := s.opts.Platform
	if platform != "" {
		p, err := v1.ParsePlatform(platform)
		if err != nil {
			return invalidf("invalid platform %q: %v", platform, err)
		}
		plat = *p
	}
	rref, err := remoteReference(named, s.opts.InsecureRegistries)
	if err != nil {
		return err
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(plat), s.authOption(auth)}
	pw := newProgressWriter(progress)

	tagOrDigest := ""
	if c, ok := named.(reference.Canonical); ok {
		tagOrDigest = c.Digest().String()
	} else if t, ok := named.(reference.Tagged); ok {
		tagOrDigest = t.Tag()
	}
	pw.status(tagOrDigest, "Pulling from "+reference.Path(named))

	desc, err := remote.Get(rref, ropts...)
	if err != nil {
		return classifyRegistryError(err, named)
	}
	img, err := desc.Image()
	if err != nil {
		if strings.Contains(err.Error(), "no child with platform") {
			return notFoundf("no matching manifest for %s in the manifest list entries", plat.String())
		}
		return classifyRegistryError(err, named)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return classifyRegistryError(err, named)
	}
	sum := sha256.Sum256(rawConfig)
	id := "sha256:" + hex.EncodeToString(sum[:])
	if name, err := img.ConfigName(); err == nil && name.String() != id {
		return invalidf("config digest mismatch: manifest names %s, content is %s", name, id)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return invalidf("image config of %s: %v", FamiliarString(named), err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		return classifyRegistryError(err, named)
	}
	diffIDs := make([]string, len(cfg.RootFS.DiffIDs))
	for i, d := range cfg.RootFS.DiffIDs {
		diffIDs[i] = d.String()
	}
	if len(diffIDs) != len(manifest.Layers) {
		return invalidf("image %s: manifest has %d layers, config %d diff ids", FamiliarString(named), len(manifest.Layers), len(diffIDs))
	}
	chain := chainIDs(diffIDs)

	refs := []string{named.String()}
	if _, ok := named.(reference.Canonical); !ok {
		if dref, err := reference.WithDigest(reference.TrimNamed(named), digest.Digest(desc.Digest.String())); err == nil {
			refs = append(refs, dref.String())
		}
	}
	rec := &imageRecord{
		ID:             id,
		Config:         rawConfig,
		ChainIDs:       chain,
		ManifestDigest: desc.Digest.String(),
		Recorded:       time.Now().UTC(),
	}
	for _, l := range manifest.Layers {
		rec.Blobs = append(rec.Blobs, l.Digest.String())
	}
	rec.Blobs = append(rec.Blobs, id)

	// Plan: an image already recorded needs no layer; otherwise layers
	// present by chain id are shared and the others downloaded.
	var imageExists bool
	present := make([]bool, len(chain))
	if err := s.db.View(func(tx *bolt.Tx) error {
		imageExists = tx.Bucket([]byte(BucketImages)).Get([]byte(id)) != nil
		for i, c := range chain {
			present[i] = tx.Bucket([]byte(BucketLayers)).Get([]byte(c)) != nil
		}
		return nil
	}); err != nil {
		return err
	}

	fetch := func(ctx context.Context, i int, report bool) error {
		return s.downloadLayer(ctx, img, manifest.Layers[i], diffIDs[i], pw, report)
	}
	pending := make([]pendingLayer, len(chain))
	for i := range chain {
		i := i
		l := manifest.Layers[i]
		pending[i] = pendingLayer{
			chainID:    chain[i],
			diffID:     diffIDs[i],
			progressID: shortID(l.Digest.String()),
			blob: func(ctx context.Context) (string, string, error) {
				// The blob may be missing if the layer vanished after planning
				// or a delete removed the blob meanwhile: fetch it again.
				if !s.content.has(l.Digest.String()) {
					if err := fetch(ctx, i, false); err != nil {
						return "", "", err
					}
				}
				p, err := s.content.path(l.Digest.String())
				return p, string(l.MediaType), err
			},
		}
	}
	if !imageExists {
		if err := s.downloadAll(ctx, manifest.Layers, present, fetch, pw); err != nil {
			return err
		}
	}
	if _, _, err := s.content.ingest(bytes.NewReader(rawConfig), id, nil); err != nil {
		return fmt.Errorf("store config: %w", err)
	}

	s.layerMu.Lock()
	defer s.layerMu.Unlock()
	// Check again under the lock: a delete may have removed the image since
	// planning, in which case its layers are unpacked now (blob fetches
	// missing blobs again).
	if err := s.db.View(func(tx *bolt.Tx) error {
		imageExists = tx.Bucket([]byte(BucketImages)).Get([]byte(id)) != nil
		return nil
	}); err != nil {
		return err
	}
	var created []string
	if !imageExists {
		created, err = s.applyLayers(ctx, pending, pw)
		if err != nil {
			return err
		}
	}
	var unchanged bool
	err = s.db.Update(func(tx *bolt.Tx) error {
		var err error
		_, unchanged, err = commitImage(tx, rec, refs)
		return err
	})
	if err != nil {
		s.removeLayers(ctx, created)
		return fmt.Errorf("record image %s: %w", FamiliarString(named), err)
	}
	pw.status("", "Digest: "+desc.Digest.String())
	if unchanged {
		pw.status("", "Status: Image is up to date for "+FamiliarString(named))
	} else {
		pw.status("", "Status: Downloaded newer image for "+FamiliarString(named))
	}
	return nil
}

// downloadAll downloads the layers not present, at most
// MaxConcurrentDownloads at a time, each distinct blob once. The first error
// cancels the others.
func (s *Store) downloadAll(ctx context.Context, layers []v1.Descriptor, present []bool, fetch func(context.Context, int, bool) error, pw *progressWriter) error {
	var todo []int
	seen := map[string]bool{}
	for i, l := range layers {
		id := shortID(l.Digest.String())
		if present[i] {
			pw.status(id, "Already exists")
			continue
		}
		if seen[l.Digest.String()] {
			continue
		}
		seen[l.Digest.String()] = true
		pw.status(id, "Pulling fs layer")
		todo = append(todo, i)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, s.opts.MaxConcurrentDownloads)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for _, i := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := fetch(ctx, i, true); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// downloadLayer fetches one layer blob into the content store, verifying
// its digest and, by decompressing it, its diff id. A blob already stored is
// only re-verified.
func (s *Store) downloadLayer(ctx context.Context, img v1.Image, desc v1.Descriptor, diffID string, pw *progressWriter, report bool) error {
	id := shortID(desc.Digest.String())
	dgst := desc.Digest.String()
	if !s.content.has(dgst) {
		layer, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			return fmt.Errorf("layer %s: %w", dgst, err)
		}
		rc, err := layer.Compressed()
		if err != nil {
			return fmt.Errorf("fetch layer %s: %w", dgst, err)
		}
		var th throttle
		onProgress := func(n int64) {
			if report && (n == desc.Size || th.ready()) {
				pw.progress(id, "Downloading", n, desc.Size)
			}
		}
		_, _, err = s.content.ingest(&ctxReader{ctx: ctx, r: rc}, dgst, onProgress)
		rc.Close()
		if err != nil {
			return fmt.Errorf("fetch layer %s: %w", dgst, err)
		}
	}
	if report {
		pw.status(id, "Verifying Checksum")
	}
	path, _ := s.content.path(dgst)
	got, _, err := diffIDOf(path)
	if err != nil {
		return fmt.Errorf("layer %s: %w", dgst, err)
	}
	if got != diffID {
		s.content.remove(dgst)
		return invalidf("layer %s: uncompressed content has digest %s, the image config expects diff id %s", dgst, got, diffID)
	}
	if report {
		pw.status(id, "Download complete")
	}
	return nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// shortID is the 12-hex id progress messages use for a digest.
func shortID(dgst string) string {
	h := strings.TrimPrefix(dgst, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func (s *Store) authOption(auth *AuthConfig) remote.Option {
	if auth != nil && (auth.Username != "" || auth.Password != "" || auth.Auth != "" || auth.IdentityToken != "" || auth.RegistryToken != "") {
		return remote.WithAuth(authn.FromConfig(authn.AuthConfig{
			Username:      auth.Username,
			Password:      auth.Password,
			Auth:          auth.Auth,
			IdentityToken: auth.IdentityToken,
			RegistryToken: auth.RegistryToken,
		}))
	}
	return remote.WithAuthFromKeychain(s.opts.Keychain)
}

// classifyRegistryError gives a registry's answer dockerd's wording and an
// error class the API maps to a status.
func classifyRegistryError(err error, named reference.Named) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return fmt.Errorf("pull %s: %w", FamiliarString(named), err)
	}
	denied := func() error {
		return notFoundf("pull access denied for %s, repository does not exist or may require 'docker login': %s", reference.FamiliarName(named), diagnostic(terr))
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode:
			return notFoundf("manifest for %s not found: manifest unknown: %s", FamiliarString(named), d.Message)
		case transport.NameUnknownErrorCode, transport.DeniedErrorCode:
			return denied()
		case transport.UnauthorizedErrorCode:
			return classify(ErrUnauthorized, fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': %s", reference.FamiliarName(named), diagnostic(terr)))
		case transport.NameInvalidErrorCode, transport.TagInvalidErrorCode:
			return invalidf("%s", diagnostic(terr))
		}
	}
	switch terr.StatusCode {
	case 404:
		return notFoundf("manifest for %s not found: manifest unknown", FamiliarString(named))
	case 401:
		return classify(ErrUnauthorized, fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': %s", reference.FamiliarName(named), diagnostic(terr)))
	case 403:
		return denied()
	case 429, 502, 503, 504:
		return classify(errdefs.ErrUnavailable, fmt.Errorf("pull %s: %w", FamiliarString(named), err))
	}
	return fmt.Errorf("pull %s: %w", FamiliarString(named), err)
}

// diagnostic renders a registry error as "code: message" without the
// request line go-containerregistry puts in front.
func diagnostic(terr *transport.Error) string {
	if len(terr.Errors) == 0 {
		return fmt.Sprintf("status %d", terr.StatusCode)
	}
	d := terr.Errors[0]
	return strings.ToLower(string(d.Code)) + ": " + d.Message
}
