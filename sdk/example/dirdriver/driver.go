package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/continuity/fs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/graphdriver"
)

// Driver is a graph driver that stores each layer as a full directory tree
// (layout.go draws the tree under home).
// One mutex serialises every call: simple and obviously correct, at the cost
// of parallel pulls (a real driver would lock per layer).
type Driver struct {
	mu   sync.Mutex
	home string // set by Configure; "" before
}

// New returns a Driver that serves nothing but Info until Configure.
func New() *Driver { return &Driver{} }

// Info names the plugin; the kernel calls it before Configure.
func (d *Driver) Info(ctx context.Context) (base.Info, error) {
	return base.Info{Name: "dirdriver", Kind: base.KindGraphDriver, Version: "0.1.0"}, nil
}

// Configure takes the one key "home", an absolute directory the driver owns.
// Unknown keys are ErrInvalidArgument, as base.Plugin requires, so a typo in
// a manifest fails loudly instead of being ignored.
func (d *Driver) Configure(ctx context.Context, config map[string]string) error {
	for key := range config {
		if key != "home" {
			return fmt.Errorf("dirdriver: unknown config key %q: %w", key, errdefs.ErrInvalidArgument)
		}
	}
	home := config["home"]
	if !filepath.IsAbs(home) {
		return fmt.Errorf("dirdriver: config key home must be an absolute path, got %q: %w", home, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("dirdriver: create home: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.home = filepath.Clean(home)
	return nil
}

// Health reports ErrUnavailable until Configure and while home is gone.
func (d *Driver) Health(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.home == "" {
		return fmt.Errorf("dirdriver: not configured: %w", errdefs.ErrUnavailable)
	}
	if _, err := os.Stat(d.home); err != nil {
		return fmt.Errorf("dirdriver: home: %v: %w", err, errdefs.ErrUnavailable)
	}
	return nil
}

// Create makes layer id as a copy of parent's tree ("copy-up"), so that
// every later call sees one self-contained directory. rw makes no
// difference: a directory is writable either way.
func (d *Driver) Create(ctx context.Context, id, parent string, rw bool) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch _, err := d.parentOf(id); {
	case err == nil:
		return fmt.Errorf("dirdriver: layer %s: %w", id, errdefs.ErrConflict)
	case !errors.Is(err, errdefs.ErrNotFound):
		return err
	}
	if parent != "" {
		if _, err := d.parentOf(parent); err != nil {
			return fmt.Errorf("dirdriver: parent of %s: %w", id, err)
		}
	}
	// RemoveAll clears what a crashed Create left, and unwinds this one.
	if err := os.RemoveAll(d.path(id)); err != nil {
		return fmt.Errorf("dirdriver: clear layer %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(d.path(id))
		}
	}()
	if err := os.MkdirAll(d.path(id, mntDir), 0o700); err != nil {
		return fmt.Errorf("dirdriver: create layer %s: %w", id, err)
	}
	if parent == "" {
		err = os.Mkdir(d.path(id, rootDir), 0o755)
	} else {
		err = fs.CopyDir(d.path(id, rootDir), d.path(parent, rootDir))
	}
	if err != nil {
		return fmt.Errorf("dirdriver: fill layer %s: %w", id, err)
	}
	return writeFile(d.path(id, parentFile), []byte(parent))
}

// ApplyDiff unpacks the layer tar at blobPath into id and returns the size
// of what it unpacked. The blob is decompressed by its magic bytes (gzip,
// zstd or none), which always agree with the media type of a valid blob.
// archive.Apply turns whiteouts into deletions and resolves every name,
// symlink and hard link inside the layer, so a tar cannot write outside it.
func (d *Driver) ApplyDiff(ctx context.Context, id, blobPath, mediaType string) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.parentOf(id); err != nil {
		return 0, err
	}
	blob, err := os.Open(blobPath)
	if err != nil {
		return 0, fmt.Errorf("dirdriver: open blob of %s: %w", id, err)
	}
	defer blob.Close()
	tarStream, err := compression.DecompressStream(blob)
	if err != nil {
		return 0, fmt.Errorf("dirdriver: blob of %s (%s): %v: %w", id, mediaType, err, errdefs.ErrInvalidArgument)
	}
	defer tarStream.Close()
	size, err := archive.Apply(ctx, d.path(id, rootDir), tarStream)
	if err != nil {
		return 0, fmt.Errorf("dirdriver: apply blob to %s: %w", id, err)
	}
	return size, nil
}

// Mount bind-mounts the layer's tree on <home>/<id>/mnt and adds holder to
// the holders file. A holder already listed adds nothing, so the kernel can
// call Mount again for every holder after a plugin restart: the file and
// /proc/self/mountinfo still describe the mount, and it is made again only
// if it is gone (after a reboot, say).
func (d *Driver) Mount(ctx context.Context, id, holder string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.parentOf(id); err != nil {
		return "", err
	}
	if holder == "" {
		return "", fmt.Errorf("dirdriver: mount %s: empty holder: %w", id, errdefs.ErrInvalidArgument)
	}
	holders, err := d.holders(id)
	if err != nil {
		return "", err
	}
	mnt := d.path(id, mntDir)
	mounted, err := mountinfo.Mounted(mnt)
	if err != nil {
		return "", fmt.Errorf("dirdriver: check mount of %s: %w", id, err)
	}
	if !mounted {
		if err := unix.Mount(d.path(id, rootDir), mnt, "", unix.MS_BIND, ""); err != nil {
			return "", fmt.Errorf("dirdriver: bind-mount %s: %w", id, err)
		}
	}
	if !slices.Contains(holders, holder) {
		if err := d.setHolders(id, append(holders, holder)); err != nil {
			if !mounted { // unwind: nobody would ever unmount it
				_ = unix.Unmount(mnt, 0)
			}
			return "", err
		}
	}
	return mnt, nil
}

// Unmount drops holder's reference; the last holder unmounts. A holder that
// holds nothing is no error, so the kernel may retry an Unmount freely.
func (d *Driver) Unmount(ctx context.Context, id, holder string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.parentOf(id); err != nil {
		return err
	}
	holders, err := d.holders(id)
	if err != nil {
		return err
	}
	i := slices.Index(holders, holder)
	if i < 0 {
		return nil
	}
	holders = slices.Delete(holders, i, i+1)
	if len(holders) == 0 {
		// Unmount before forgetting the holder: if it fails, the holder
		// still owns the mount and can retry.
		mnt := d.path(id, mntDir)
		if mounted, err := mountinfo.Mounted(mnt); err != nil || mounted {
			if err := unix.Unmount(mnt, 0); err != nil {
				return fmt.Errorf("dirdriver: unmount %s: %w", id, err)
			}
		}
	}
	return d.setHolders(id, holders)
}

// Remove deletes a layer that nobody holds and no layer is built on; both
// cases are ErrConflict, and the kernel removes children first.
func (d *Driver) Remove(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.parentOf(id); err != nil {
		return err
	}
	holders, err := d.holders(id)
	if err != nil {
		return err
	}
	// A mount without holders should not exist; removing through it would
	// delete files through the bind mount, so refuse instead.
	if mounted, err := mountinfo.Mounted(d.path(id, mntDir)); len(holders) > 0 || err != nil || mounted {
		return fmt.Errorf("dirdriver: remove %s: held by %q: %w", id, holders, errdefs.ErrConflict)
	}
	entries, err := os.ReadDir(d.home)
	if err != nil {
		return fmt.Errorf("dirdriver: list layers: %w", err)
	}
	for _, e := range entries {
		if p, err := d.parentOf(e.Name()); err == nil && p == id {
			return fmt.Errorf("dirdriver: remove %s: layer %s is built on it: %w", id, e.Name(), errdefs.ErrConflict)
		}
	}
	// Dropping the parent file first makes the layer vanish at once, even if
	// removing the tree fails half-way.
	if err := os.Remove(d.path(id, parentFile)); err != nil {
		return fmt.Errorf("dirdriver: remove %s: %w", id, err)
	}
	if err := os.RemoveAll(d.path(id)); err != nil {
		return fmt.Errorf("dirdriver: remove %s: %w", id, err)
	}
	return nil
}

// Diff streams the layer's changes against its parent as an uncompressed
// OCI layer tar, deletions written as .wh. whiteouts. The caller must Close
// the stream; archive.Diff stops its writer when ctx ends.
func (d *Driver) Diff(ctx context.Context, id string) (io.ReadCloser, error) {
	parentRoot, root, err := d.trees(id)
	if err != nil {
		return nil, err
	}
	return archive.Diff(ctx, parentRoot, root), nil
}

// Changes lists what the layer added, modified or deleted against its
// parent, with paths starting at "/".
func (d *Driver) Changes(ctx context.Context, id string) ([]graphdriver.Change, error) {
	var changes []graphdriver.Change
	err := d.walkChanges(ctx, id, func(kind graphdriver.ChangeKind, path string, _ os.FileInfo) {
		changes = append(changes, graphdriver.Change{Path: path, Kind: kind})
	})
	return changes, err
}

// Usage counts the files the layer added or modified against its parent.
// The copy-up means the layer's tree really occupies more disk than that,
// but the contract asks for the layer alone, as `docker ps --size` shows it.
func (d *Driver) Usage(ctx context.Context, id string) (graphdriver.Usage, error) {
	var u graphdriver.Usage
	err := d.walkChanges(ctx, id, func(kind graphdriver.ChangeKind, _ string, fi os.FileInfo) {
		if kind != graphdriver.ChangeDelete {
			u.Inodes++
			if fi.Mode().IsRegular() {
				u.Size += fi.Size()
			}
		}
	})
	return u, err
}

// Status shows the home and the number of layers in `docker info`.
func (d *Driver) Status(ctx context.Context) ([][2]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.home == "" {
		return nil, fmt.Errorf("dirdriver: not configured: %w", errdefs.ErrUnavailable)
	}
	entries, err := os.ReadDir(d.home)
	if err != nil {
		return nil, fmt.Errorf("dirdriver: list layers: %w", err)
	}
	return [][2]string{{"Home", d.home}, {"Layers", strconv.Itoa(len(entries))}}, nil
}

// walkChanges calls fn for every change of id against its parent, using
// continuity's double walk of the two trees (it compares metadata, and
// content where timestamps cannot tell).
func (d *Driver) walkChanges(ctx context.Context, id string, fn func(graphdriver.ChangeKind, string, os.FileInfo)) error {
	parentRoot, root, err := d.trees(id)
	if err != nil {
		return err
	}
	kinds := map[fs.ChangeKind]graphdriver.ChangeKind{
		fs.ChangeKindAdd: graphdriver.ChangeAdd, fs.ChangeKindModify: graphdriver.ChangeModify, fs.ChangeKindDelete: graphdriver.ChangeDelete,
	}
	err = fs.Changes(ctx, parentRoot, root, func(k fs.ChangeKind, path string, fi os.FileInfo, err error) error {
		if kind, ok := kinds[k]; ok && err == nil {
			fn(kind, path, fi)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("dirdriver: changes of %s: %w", id, err)
	}
	return nil
}

// trees returns the roots of id's parent ("" for a base layer, which
// archive.Diff and fs.Changes read as an empty tree) and of id itself.
func (d *Driver) trees(id string) (parentRoot, root string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	parent, err := d.parentOf(id)
	if err != nil {
		return "", "", err
	}
	if parent != "" {
		parentRoot = d.path(parent, rootDir)
	}
	return parentRoot, d.path(id, rootDir), nil
}

var _ graphdriver.Driver = (*Driver)(nil)
