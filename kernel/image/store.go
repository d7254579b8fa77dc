// Package image is the kernel's image store: a content store of blobs on
// disk, image records, references and layer records in bbolt (schema in
// schema.go), pulls from registries with go-containerregistry, imports of
// root filesystem tars, and layer unpacking through the graph driver plugin.
package image

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/sdk/graphdriver"
)

// Options tunes a Store. The zero value is usable.
type Options struct {
	// InsecureRegistries are spoken to over plain HTTP, as host:port, host
	// or CIDR. Loopback registries always are.
	InsecureRegistries []string
	// MaxConcurrentDownloads bounds parallel layer downloads of one pull;
	// 0 means 3, dockerd's default.
	MaxConcurrentDownloads int
	// Keychain supplies credentials when a pull carries none; nil means the
	// Docker config file (~/.docker/config.json) via authn.DefaultKeychain.
	Keychain authn.Keychain
	// Platform is the platform chosen from multi-platform images when a pull
	// names none; the zero value means this host (linux/GOARCH).
	Platform v1.Platform
}

// Store holds images, their references and layers. It is safe for
// concurrent use. Downloads run in parallel; unpacking layers and changing
// layer reference counts happen under one lock, so a layer being unpacked
// for one pull is never removed by a concurrent delete.
type Store struct {
	db      *bolt.DB
	content *contentStore
	driver  graphdriver.Driver
	opts    Options

	// layerMu serialises every change to layers/ together with the graph
	// driver calls behind it.
	layerMu sync.Mutex
}

// Image is an image as the API shows it.
type Image struct {
	// ID is "sha256:<hex>", the digest of the config.
	ID string
	// RepoTags and RepoDigests are in familiar form ("busybox:latest",
	// "busybox@sha256:…"), sorted.
	RepoTags    []string
	RepoDigests []string
	Created     time.Time
	// Size is the unpacked size of all layers.
	Size int64
	// Config is the parsed image config; RawConfig the bytes it was parsed
	// from (decode them into another type, e.g. moby's DockerOCIImage, when
	// the API needs its shape).
	Config    *v1.ConfigFile
	RawConfig []byte
	// TopLayer is the graph driver id of the top layer, the parent of a
	// container's writable layer; empty for an image without layers.
	TopLayer string
	// ChainIDs lists the layers bottom to top.
	ChainIDs     []string
	Architecture string
	Os           string
	Variant      string
}

// New opens the store on db (creating its buckets) with blobs under
// root/content, unpacking layers through driver. Layers left unreferenced by
// an interrupted pull are removed.
func New(db *bolt.DB, root string, driver graphdriver.Driver, opts Options) (*Store, error) {
	if opts.MaxConcurrentDownloads <= 0 {
		opts.MaxConcurrentDownloads = 3
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	if opts.Platform.OS == "" {
		opts.Platform = hostPlatform()
	}
	content, err := newContentStore(root)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{BucketImages, BucketRefs, BucketLayers} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("image store: create buckets: %w", err)
	}
	s := &Store{db: db, content: content, driver: driver, opts: opts}
	if err := s.removeUnreferencedLayers(context.Background()); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	return s, nil
}

var (
	fullIDRE   = regexp.MustCompile(`^(sha256:)?[a-f0-9]{64}$`)
	idPrefixRE = regexp.MustCompile(`^(sha256:)?[a-f0-9]{1,64}$`)
)

// Get finds an image by reference (normalised: "busybox" is
// docker.io/library/busybox:latest), by full id ("sha256:<hex>" or the bare
// hex), or by a unique prefix of its id. A missing image is
// errdefs.ErrNotFound ("No such image: …").
func (s *Store) Get(refOrID string) (*Image, error) {
	var img *Image
	err := s.db.View(func(tx *bolt.Tx) error {
		id, _, err := resolve(tx, refOrID)
		if err != nil {
			return err
		}
		img, err = loadImage(tx, id)
		return err
	})
	return img, err
}

// List returns every image, newest first.
func (s *Store) List() ([]Image, error) {
	var out []Image
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketImages)).ForEach(func(k, _ []byte) error {
			img, err := loadImage(tx, string(k))
			if err != nil {
				return err
			}
			out = append(out, *img)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// Tag points repoTag ("x", "x:y", "registry/x:y") at the image named by
// src. A tag that pointed at another image moves; that image stays, untagged.
func (s *Store) Tag(src, repoTag string) error {
	ref, err := ParseReference(repoTag)
	if err != nil {
		return err
	}
	if _, ok := ref.(reference.Canonical); ok {
		return invalidf("refusing to create a tag with a digest reference")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		id, _, err := resolve(tx, src)
		if err != nil {
			return err
		}
		return tx.Bucket([]byte(BucketRefs)).Put([]byte(ref.String()), []byte(id))
	})
}

// resolve finds the image id named by refOrID. When the name was a
// reference it is returned too (nil for ids), as Delete treats the two
// differently. The order is dockerd's: full id, reference, id prefix.
func resolve(tx *bolt.Tx, refOrID string) (string, reference.Named, error) {
	images := tx.Bucket([]byte(BucketImages))
	if fullIDRE.MatchString(refOrID) {
		id := "sha256:" + strings.TrimPrefix(refOrID, "sha256:")
		if images.Get([]byte(id)) != nil {
			return id, nil, nil
		}
		return "", nil, notFoundf("No such image: %s", refOrID)
	}
	ref, perr := ParseReference(refOrID)
	if perr == nil {
		if id := tx.Bucket([]byte(BucketRefs)).Get([]byte(ref.String())); id != nil {
			return string(id), ref, nil
		}
	}
	if idPrefixRE.MatchString(refOrID) {
		prefix := "sha256:" + strings.TrimPrefix(refOrID, "sha256:")
		var found []string
		c := images.Cursor()
		for k, _ := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, _ = c.Next() {
			found = append(found, string(k))
		}
		switch len(found) {
		case 1:
			return found[0], nil, nil
		case 0:
		default:
			return "", nil, invalidf("multiple IDs found with provided prefix: %s", refOrID)
		}
	}
	if perr != nil {
		return "", nil, perr
	}
	return "", nil, notFoundf("No such image: %s", FamiliarString(ref))
}

// refsOf returns the references pointing at id, parsed.
func refsOf(tx *bolt.Tx, id string) []reference.Named {
	var out []reference.Named
	tx.Bucket([]byte(BucketRefs)).ForEach(func(k, v []byte) error {
		if string(v) != id {
			return nil
		}
		if r, err := reference.ParseNormalizedNamed(string(k)); err == nil {
			out = append(out, r)
		}
		return nil
	})
	return out
}

func getImageRecord(tx *bolt.Tx, id string) (*imageRecord, error) {
	v := tx.Bucket([]byte(BucketImages)).Get([]byte(id))
	if v == nil {
		return nil, notFoundf("No such image: %s", id)
	}
	var rec imageRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("image record %s: %w", id, err)
	}
	return &rec, nil
}

func getLayerRecord(tx *bolt.Tx, chainID string) (*layerRecord, error) {
	v := tx.Bucket([]byte(BucketLayers)).Get([]byte(chainID))
	if v == nil {
		return nil, nil
	}
	var rec layerRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("layer record %s: %w", chainID, err)
	}
	return &rec, nil
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), data)
}

func loadImage(tx *bolt.Tx, id string) (*Image, error) {
	rec, err := getImageRecord(tx, id)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(strings.NewReader(string(rec.Config)))
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", id, err)
	}
	img := &Image{
		ID:           rec.ID,
		Created:      cfg.Created.Time,
		Size:         rec.Size,
		Config:       cfg,
		RawConfig:    rec.Config,
		ChainIDs:     rec.ChainIDs,
		Architecture: cfg.Architecture,
		Os:           cfg.OS,
		Variant:      cfg.Variant,
		RepoTags:     []string{},
		RepoDigests:  []string{},
	}
	if img.Created.IsZero() {
		img.Created = rec.Recorded
	}
	if n := len(rec.ChainIDs); n > 0 {
		top, err := getLayerRecord(tx, rec.ChainIDs[n-1])
		if err != nil {
			return nil, err
		}
		if top == nil {
			return nil, fmt.Errorf("image %s: layer %s missing", id, rec.ChainIDs[n-1])
		}
		img.TopLayer = top.GraphID
	}
	for _, r := range refsOf(tx, id) {
		if _, ok := r.(reference.Canonical); ok {
			img.RepoDigests = append(img.RepoDigests, FamiliarString(r))
		} else {
			img.RepoTags = append(img.RepoTags, FamiliarString(r))
		}
	}
	sort.Strings(img.RepoTags)
	sort.Strings(img.RepoDigests)
	return img, nil
}
