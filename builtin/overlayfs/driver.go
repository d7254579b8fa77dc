// Package overlayfs is Berth's built-in graph driver. It stores layers in an
// overlay2-style directory tree (the layout Docker's overlay2 driver uses)
// and mounts them with the kernel's overlay filesystem.
//
// On-disk layout under the configured home:
//
//	<home>/l/<link>            symlink → ../<id>/diff; <link> is 26 characters
//	<home>/<id>/diff           the layer's files (the upperdir of an rw layer)
//	<home>/<id>/link           the layer's <link> name
//	<home>/<id>/lower          "l/<link>:l/<link>:..." of the parents, nearest first
//	<home>/<id>/work           overlay workdir; only rw layers with a parent
//	<home>/<id>/merged         mount point (made on first Mount for a base layer)
//	<home>/<id>/holders        JSON list of holders while the layer is mounted
//	<home>/.tmp/               scratch space: half-made layers, Diff's base views
//
// A base layer (no parent) has no lower file. Mount bind-mounts its diff
// (read-only unless it is rw); a layer with parents is an overlay mount whose
// lowerdir lists the short links, so a deep chain fits in the one page the
// kernel accepts as mount data.
package overlayfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/graphdriver"
)

// Name is the driver's name as Info reports it.
const Name = "overlayfs"

// Version is the driver's version as Info reports it.
const Version = "0.1.0"

// maxDepth bounds a chain of layers, as Docker's overlay2 does: the kernel
// stacks at most 500 lowers and the relative lowerdir of 128 short links
// still fits in one page.
const maxDepth = 125

// Directory and file names inside home and inside a layer.
const (
	linkDir     = "l"
	tmpDir      = ".tmp"
	diffName    = "diff"
	workName    = "work"
	mergedName  = "merged"
	linkName    = "link"
	lowerName   = "lower"
	holdersName = "holders"
)

// validID accepts the ids the kernel hands out (hex digests, container ids)
// and anything similar; it rules out path separators and dot names.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Driver is the overlayfs graph driver. Create one with New and call
// Configure before any other call but Info and Health.
type Driver struct {
	mu         sync.Mutex
	home       string
	indexOff   bool                           // the kernel accepts overlay's index=off option
	locks      map[string]*sync.Mutex         // per-layer locks; entries are never dropped
	holders    map[string]map[string]struct{} // loaded holder sets, by layer id
	configured bool
}

// New returns an unconfigured driver.
func New() *Driver {
	return &Driver{
		locks:   map[string]*sync.Mutex{},
		holders: map[string]map[string]struct{}{},
	}
}

// Info describes the driver; it answers before Configure.
func (d *Driver) Info(ctx context.Context) (base.Info, error) {
	return base.Info{Name: Name, Kind: base.KindGraphDriver, Version: Version}, nil
}

// Configure takes the key "home" (required, an absolute directory that the
// driver owns). It creates the directory tree, checks that overlay mounts
// work there and removes scratch left by a previous process.
func (d *Driver) Configure(ctx context.Context, config map[string]string) error {
	var home string
	for k, v := range config {
		switch k {
		case "home":
			home = v
		default:
			return fmt.Errorf("overlayfs: unknown configuration key %q: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	if home == "" {
		return fmt.Errorf("overlayfs: configuration key \"home\" is required: %w", errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(home) {
		return fmt.Errorf("overlayfs: home %q is not absolute: %w", home, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(home, 0o710); err != nil {
		return fmt.Errorf("overlayfs: create home: %w", err)
	}
	// Mount points in /proc/self/mountinfo are real paths; so are ours.
	real, err := filepath.EvalSymlinks(home)
	if err != nil {
		return fmt.Errorf("overlayfs: resolve home: %w", err)
	}
	for _, dir := range []string{linkDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(real, dir), 0o700); err != nil {
			return fmt.Errorf("overlayfs: create %s: %w", dir, err)
		}
	}
	if err := cleanScratch(filepath.Join(real, tmpDir)); err != nil {
		return fmt.Errorf("overlayfs: clean scratch: %w", err)
	}
	indexOff, err := probeOverlay(filepath.Join(real, tmpDir))
	if err != nil {
		return fmt.Errorf("overlayfs: overlay mounts do not work in %s: %v: %w", real, err, errdefs.ErrUnavailable)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	d.home = real
	d.indexOff = indexOff
	d.holders = map[string]map[string]struct{}{}
	d.configured = true
	return nil
}

// Health reports whether the driver is configured and its home is usable.
func (d *Driver) Health(ctx context.Context) error {
	home, err := d.root()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(home, linkDir)); err != nil {
		return fmt.Errorf("overlayfs: home: %v: %w", err, errdefs.ErrUnavailable)
	}
	return nil
}

// root returns the configured home or ErrUnavailable before Configure.
func (d *Driver) root() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.configured {
		return "", fmt.Errorf("overlayfs: not configured: %w", errdefs.ErrUnavailable)
	}
	return d.home, nil
}

// lock takes the per-layer lock of each id, in sorted order so that two
// calls locking the same pair never deadlock, and returns the unlock.
func (d *Driver) lock(ids ...string) func() {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	var held []*sync.Mutex
	for i, id := range ids {
		if i > 0 && ids[i-1] == id {
			continue
		}
		d.mu.Lock()
		m, ok := d.locks[id]
		if !ok {
			m = &sync.Mutex{}
			d.locks[id] = m
		}
		d.mu.Unlock()
		m.Lock()
		held = append(held, m)
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock()
		}
	}
}

// Create makes an empty layer on top of parent ("" for a base layer). An rw
// layer with a parent also gets an overlay workdir, for its upperdir.
func (d *Driver) Create(ctx context.Context, id, parent string, rw bool) (retErr error) {
	home, err := d.root()
	if err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	if parent == id {
		return fmt.Errorf("overlayfs: layer %q cannot be its own parent: %w", id, errdefs.ErrInvalidArgument)
	}
	unlock := d.lock(id, parent)
	defer unlock()

	if _, err := os.Lstat(filepath.Join(home, id)); err == nil {
		return fmt.Errorf("overlayfs: layer %q: already exists: %w", id, errdefs.ErrConflict)
	}

	var lowers []string
	if parent != "" {
		if err := checkID(parent); err != nil {
			return err
		}
		p, err := readLayer(home, parent)
		if err != nil {
			return err
		}
		if len(p.lowers)+1 > maxDepth {
			return fmt.Errorf("overlayfs: layer %q: more than %d parents: %w", id, maxDepth, errdefs.ErrInvalidArgument)
		}
		lowers = append([]string{linkDir + "/" + p.link}, p.lowers...)
	}

	// The layer is assembled in scratch and renamed into place, so a crash
	// never leaves a half-made layer under its id. The short link is made
	// first: until the rename it dangles, which is harmless.
	stage, err := os.MkdirTemp(filepath.Join(home, tmpDir), "create-")
	if err != nil {
		return fmt.Errorf("overlayfs: create %q: %w", id, err)
	}
	defer func() {
		if stage != "" {
			os.RemoveAll(stage)
		}
	}()
	if err := os.Chmod(stage, 0o710); err != nil {
		return fmt.Errorf("overlayfs: create %q: %w", id, err)
	}
	if err := os.Mkdir(filepath.Join(stage, diffName), 0o755); err != nil {
		return fmt.Errorf("overlayfs: create %q: %w", id, err)
	}
	if parent != "" {
		if err := os.WriteFile(filepath.Join(stage, lowerName), []byte(strings.Join(lowers, ":")), 0o644); err != nil {
			return fmt.Errorf("overlayfs: create %q: %w", id, err)
		}
		if err := os.Mkdir(filepath.Join(stage, mergedName), 0o700); err != nil {
			return fmt.Errorf("overlayfs: create %q: %w", id, err)
		}
		if rw {
			if err := os.Mkdir(filepath.Join(stage, workName), 0o700); err != nil {
				return fmt.Errorf("overlayfs: create %q: %w", id, err)
			}
		}
	} else if rw {
		// A base rw layer is a bind mount of diff; the marker tells Mount
		// not to make it read-only.
		if err := os.Mkdir(filepath.Join(stage, workName), 0o700); err != nil {
			return fmt.Errorf("overlayfs: create %q: %w", id, err)
		}
	}

	link, err := newLink(home, id)
	if err != nil {
		return fmt.Errorf("overlayfs: create %q: %w", id, err)
	}
	if err := os.WriteFile(filepath.Join(stage, linkName), []byte(link), 0o644); err != nil {
		os.Remove(filepath.Join(home, linkDir, link))
		return fmt.Errorf("overlayfs: create %q: %w", id, err)
	}
	if err := os.Rename(stage, filepath.Join(home, id)); err != nil {
		os.Remove(filepath.Join(home, linkDir, link))
		return fmt.Errorf("overlayfs: create %q: %w", id, err)
	}
	stage = ""
	return nil
}

// Remove deletes a layer that has no holders and no children. A mount left
// without holders (by a crash) is unmounted first.
func (d *Driver) Remove(ctx context.Context, id string) error {
	l, holders, unlock, err := d.heldLayer(id)
	if err != nil {
		return err
	}
	defer unlock()
	home := l.home
	if len(holders) > 0 {
		return fmt.Errorf("overlayfs: layer %q is mounted by %s: %w", id, strings.Join(sortedKeys(holders), ", "), errdefs.ErrConflict)
	}
	child, err := findChild(home, l.link)
	if err != nil {
		return fmt.Errorf("overlayfs: remove %q: %w", id, err)
	}
	if child != "" {
		return fmt.Errorf("overlayfs: layer %q has child %q: %w", id, child, errdefs.ErrConflict)
	}
	if err := unmountAll(l.merged()); err != nil {
		return fmt.Errorf("overlayfs: remove %q: %w", id, err)
	}

	// Rename first so that a failure halfway through RemoveAll leaves only
	// scratch behind, never a half-deleted layer under its id.
	trash, err := os.MkdirTemp(filepath.Join(home, tmpDir), "remove-")
	if err != nil {
		return fmt.Errorf("overlayfs: remove %q: %w", id, err)
	}
	if err := os.Rename(l.dir, filepath.Join(trash, id)); err != nil {
		os.Remove(trash)
		return fmt.Errorf("overlayfs: remove %q: %w", id, err)
	}
	d.mu.Lock()
	delete(d.holders, id)
	d.mu.Unlock()
	if l.link != "" {
		if err := os.Remove(filepath.Join(home, linkDir, l.link)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("overlayfs: remove link of %q: %w", id, err)
		}
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("overlayfs: remove %q: %w", id, err)
	}
	return nil
}

// Status returns the `docker info` DriverStatus pairs.
func (d *Driver) Status(ctx context.Context) ([][2]string, error) {
	home, err := d.root()
	if err != nil {
		return nil, err
	}
	fsName, err := backingFS(home)
	if err != nil {
		return nil, fmt.Errorf("overlayfs: status: %w", err)
	}
	dtype, err := supportsDType(home)
	if err != nil {
		return nil, fmt.Errorf("overlayfs: status: %w", err)
	}
	return [][2]string{
		{"Backing Filesystem", fsName},
		{"Supports d_type", fmt.Sprint(dtype)},
		{"Using metacopy", "false"},
		{"Native Overlay Diff", "true"},
	}, nil
}

// checkID rejects ids that could name something other than a layer
// directory.
func checkID(id string) error {
	if !validID.MatchString(id) || id == linkDir {
		return fmt.Errorf("overlayfs: invalid layer id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

func sortedKeys(m map[string]struct{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Interface guard.
var _ graphdriver.Driver = (*Driver)(nil)
