package overlayfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
)

// layerMediaTypes are the layer media types ApplyDiff accepts. The stream's
// own magic bytes decide how it is decompressed; the media type only has to
// name a layer tar that is not encrypted or otherwise transformed.
var layerMediaTypes = map[string]bool{
	"": true, // unknown: detect from the content

	"application/vnd.oci.image.layer.v1.tar":                       true,
	"application/vnd.oci.image.layer.v1.tar+gzip":                  true,
	"application/vnd.oci.image.layer.v1.tar+zstd":                  true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar":      true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": true,
	"application/vnd.docker.image.rootfs.diff.tar":                 true,
	"application/vnd.docker.image.rootfs.diff.tar.gzip":            true,
	"application/vnd.docker.image.rootfs.diff.tar.zstd":            true,
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":    true,
}

// ApplyDiff unpacks the layer tar at blobPath (plain, gzip or zstd) into
// the layer's diff directory and returns the number of bytes unpacked.
// Whiteouts become overlay whiteouts (0/0 character devices and the
// trusted.overlay.opaque xattr). Every path is resolved inside the layer,
// so neither "../" names nor symlinks in the tar can reach outside it. On
// failure the diff directory is emptied again.
func (d *Driver) ApplyDiff(ctx context.Context, id, blobPath, mediaType string) (int64, error) {
	home, err := d.root()
	if err != nil {
		return 0, err
	}
	if err := checkID(id); err != nil {
		return 0, err
	}
	if !layerMediaTypes[mediaType] {
		return 0, fmt.Errorf("overlayfs: apply to %q: unsupported media type %q: %w", id, mediaType, errdefs.ErrInvalidArgument)
	}
	unlock := d.lock(id)
	defer unlock()

	l, err := readLayer(home, id)
	if err != nil {
		return 0, err
	}
	if mounted, err := isMounted(l.merged()); err != nil {
		return 0, fmt.Errorf("overlayfs: apply to %q: %w", id, err)
	} else if mounted {
		return 0, fmt.Errorf("overlayfs: apply to %q: layer is mounted: %w", id, errdefs.ErrConflict)
	}

	blob, err := os.Open(blobPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("overlayfs: apply to %q: blob %s: %w", id, blobPath, errdefs.ErrNotFound)
		}
		return 0, fmt.Errorf("overlayfs: apply to %q: %w", id, err)
	}
	defer blob.Close()
	stream, err := compression.DecompressStream(blob)
	if err != nil {
		return 0, fmt.Errorf("overlayfs: apply to %q: decompress: %v: %w", id, err, errdefs.ErrInvalidArgument)
	}
	defer stream.Close()

	// Directories that a tar entry implies but does not contain take the
	// metadata of the same directory in the nearest parent that has it.
	var parents []string
	for _, lower := range l.lowers {
		p, err := resolveLower(home, lower)
		if err != nil {
			return 0, fmt.Errorf("overlayfs: apply to %q: %w", id, err)
		}
		parents = append(parents, p)
	}

	size, err := archive.Apply(ctx, l.diff(), stream,
		archive.WithConvertWhiteout(archive.OverlayConvertWhiteout),
		archive.WithParents(parents),
	)
	if err == nil {
		// Read to the end so a truncated or corrupt compressed stream is
		// noticed even when the tar inside ended cleanly.
		_, err = io.Copy(io.Discard, stream)
	}
	if err != nil {
		if rerr := resetDir(l.diff()); rerr != nil {
			return 0, fmt.Errorf("overlayfs: apply to %q: %v; emptying diff: %w", id, err, rerr)
		}
		if isBadArchive(err) {
			return 0, fmt.Errorf("overlayfs: apply to %q: %v: %w", id, err, errdefs.ErrInvalidArgument)
		}
		return 0, fmt.Errorf("overlayfs: apply to %q: %w", id, err)
	}
	return size, nil
}

// isBadArchive tells a malformed blob from a failure of the host.
func isBadArchive(err error) bool {
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrInsecurePath) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"invalid", "gzip", "zstd", "breakout", "checksum"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// resetDir empties dir, keeping the directory itself.
func resetDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
