// Package graphdriver is the berth.graphdriver.v1 plugin kind: it stores
// image layers and containers' writable layers and mounts them as root
// filesystems.
//
// Lifecycle of a layer, as the kernel drives it:
//
//  1. Create(id, parent, rw=false) makes an empty layer on top of parent
//     ("" for a base layer); ApplyDiff(id, blob path, media type) unpacks a
//     layer tar (optionally compressed; the media type says) from a file on
//     disk into it and returns the unpacked size. Whiteouts are converted to
//     the driver's own form. A tar can never write outside its layer. A layer
//     that has been applied is never changed again.
//  2. A container's layer is Create(id, parent=image's top layer, rw=true).
//  3. Mount(id, holder) returns a path where the layer and all its parents are
//     mounted. Mount and Unmount are counted per holder (a container id) and
//     idempotent per holder: mounting twice for the same holder is one
//     reference. The mount is made in the host mount namespace. After the
//     plugin restarts, the kernel calls Mount again for every holder it has
//     recorded, and the plugin rebuilds its counts from that and from
//     /proc/self/mountinfo.
//  4. Unmount(id, holder) drops that holder's reference; the last one unmounts.
//  5. Remove(id) deletes a layer that is not mounted and has no children.
//
// Diff streams a layer's changes as an uncompressed tar; Changes lists them.
// Unknown ids are ErrNotFound (package errdefs).
package graphdriver

import (
	"context"
	"io"

	"github.com/berth-dev/berth/sdk/base"
)

// ChangeKind classifies an entry of Changes, numbered as Docker does.
type ChangeKind int

// Change kinds.
const (
	ChangeModify ChangeKind = 0
	ChangeAdd    ChangeKind = 1
	ChangeDelete ChangeKind = 2
)

// Change is one changed path of a layer.
type Change struct {
	Path string
	Kind ChangeKind
}

// Usage is the disk use of one layer alone (not its parents).
type Usage struct {
	Size   int64
	Inodes int64
}

// Driver stores and mounts layers.
type Driver interface {
	base.Plugin

	Create(ctx context.Context, id, parent string, rw bool) error
	ApplyDiff(ctx context.Context, id, blobPath, mediaType string) (size int64, err error)
	Mount(ctx context.Context, id, holder string) (path string, err error)
	Unmount(ctx context.Context, id, holder string) error
	Remove(ctx context.Context, id string) error
	// Diff returns the layer's changes against its parent as a tar stream.
	Diff(ctx context.Context, id string) (io.ReadCloser, error)
	Changes(ctx context.Context, id string) ([]Change, error)
	Usage(ctx context.Context, id string) (Usage, error)
	// Status is shown by `docker info` as DriverStatus pairs.
	Status(ctx context.Context) ([][2]string, error)
}
