package image

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/graphdriver"
)

// fakeDriver is a graph driver that unpacks each layer into its own
// directory (no union mount) and records its calls, enough to test the
// store above it.
type fakeDriver struct {
	root string

	mu      sync.Mutex
	calls   []string
	parents map[string]string
	// failApply, when set, makes ApplyDiff fail.
	failApply error
}

func newFakeDriver(root string) *fakeDriver {
	return &fakeDriver{root: root, parents: map[string]string{}}
}

func (d *fakeDriver) record(format string, args ...any) {
	d.calls = append(d.calls, fmt.Sprintf(format, args...))
}

func (d *fakeDriver) callCount(prefix string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (d *fakeDriver) layerCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.parents)
}

func (d *fakeDriver) dir(id string) string { return filepath.Join(d.root, id) }

func (d *fakeDriver) Info(context.Context) (base.Info, error) {
	return base.Info{Name: "fake", Kind: base.KindGraphDriver}, nil
}
func (d *fakeDriver) Configure(context.Context, map[string]string) error { return nil }
func (d *fakeDriver) Health(context.Context) error                       { return nil }

func (d *fakeDriver) Create(_ context.Context, id, parent string, rw bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record("Create %s %s", id, parent)
	if _, ok := d.parents[id]; ok {
		return errdefs.ErrConflict
	}
	if _, ok := d.parents[parent]; parent != "" && !ok {
		return fmt.Errorf("parent %s: %w", parent, errdefs.ErrNotFound)
	}
	if err := os.MkdirAll(d.dir(id), 0o755); err != nil {
		return err
	}
	d.parents[id] = parent
	return nil
}

func (d *fakeDriver) ApplyDiff(_ context.Context, id, blobPath, mediaType string) (int64, error) {
	d.mu.Lock()
	d.record("ApplyDiff %s %s", id, mediaType)
	_, ok := d.parents[id]
	fail := d.failApply
	d.mu.Unlock()
	if !ok {
		return 0, errdefs.ErrNotFound
	}
	if fail != nil {
		return 0, fail
	}
	f, err := os.Open(blobPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rc, _, err := decompress(f)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return untar(rc, d.dir(id))
}

// untar extracts regular files, directories and symlinks below dest.
func untar(r io.Reader, dest string) (int64, error) {
	tr := tar.NewReader(r)
	var size int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return size, nil
		}
		if err != nil {
			return size, err
		}
		name := filepath.Clean("/" + h.Name)
		target := filepath.Join(dest, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return size, err
			}
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(target), 0o755)
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				return size, err
			}
			n, err := io.Copy(f, tr)
			f.Close()
			if err != nil {
				return size, err
			}
			size += n
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(target), 0o755)
			if err := os.Symlink(h.Linkname, target); err != nil {
				return size, err
			}
		}
	}
}

func (d *fakeDriver) Mount(_ context.Context, id, holder string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.parents[id]; !ok {
		return "", errdefs.ErrNotFound
	}
	return d.dir(id), nil
}

func (d *fakeDriver) Unmount(context.Context, string, string) error { return nil }

func (d *fakeDriver) Remove(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record("Remove %s", id)
	if _, ok := d.parents[id]; !ok {
		return errdefs.ErrNotFound
	}
	for child, parent := range d.parents {
		if parent == id {
			return fmt.Errorf("layer %s has child %s: %w", id, child, errdefs.ErrConflict)
		}
	}
	delete(d.parents, id)
	return os.RemoveAll(d.dir(id))
}

func (d *fakeDriver) Diff(context.Context, string) (io.ReadCloser, error) {
	return nil, errdefs.ErrUnimplemented
}
func (d *fakeDriver) Changes(context.Context, string) ([]graphdriver.Change, error) {
	return nil, errdefs.ErrUnimplemented
}
func (d *fakeDriver) Usage(context.Context, string) (graphdriver.Usage, error) {
	return graphdriver.Usage{}, errdefs.ErrUnimplemented
}
func (d *fakeDriver) Status(context.Context) ([][2]string, error) { return nil, nil }

var _ graphdriver.Driver = (*fakeDriver)(nil)
