package overlayfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/berth-dev/berth/sdk/graphdriver"
	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/continuity/fs"
	"golang.org/x/sys/unix"
)

// opaqueMarker is the name continuity's overlay walker reports as deleted
// inside an opaque directory; written to a tar it becomes ".wh..wh..opq".
const opaqueMarker = ".wh..opq"

// Diff streams the layer's changes against its parents as an uncompressed
// tar in the OCI/Docker form: deletions are ".wh.<name>" entries and opaque
// directories carry ".wh..wh..opq". It reads the layer's diff directory
// (the upperdir, with overlay whiteouts) and compares names against a
// read-only view of the parents. The caller must Close the stream; that
// also releases the view.
func (d *Driver) Diff(ctx context.Context, id string) (io.ReadCloser, error) {
	l, baseDir, release, err := d.prepareDiff(id)
	if err != nil {
		return nil, err
	}
	// The stream outlives the call; only Close ends it.
	ctx = context.WithoutCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		cw := archive.NewChangeWriter(pw, l.diff())
		handle, flush := overlayOrder(cw.HandleChange)
		err := walkChanges(ctx, baseDir, l.diff(), handle)
		if err == nil {
			err = flush()
		}
		if err == nil {
			err = cw.Close()
		}
		if rerr := release(); err == nil && rerr != nil {
			err = rerr
		}
		pw.CloseWithError(err)
	}()
	return &diffStream{PipeReader: pr, done: done}, nil
}

// diffStream is Diff's reader. Close stops the writer and returns only
// once the parents' view is released, so nothing stays mounted after it.
type diffStream struct {
	*io.PipeReader
	done chan struct{}
}

// Close ends the stream early or after EOF.
func (s *diffStream) Close() error {
	err := s.PipeReader.Close()
	<-s.done
	return err
}

// Changes lists the paths the layer adds, modifies or deletes relative to
// its parents, sorted. A directory made opaque lists the parents' entries it
// hides as deleted.
func (d *Driver) Changes(ctx context.Context, id string) ([]graphdriver.Change, error) {
	l, baseDir, release, err := d.prepareDiff(id)
	if err != nil {
		return nil, err
	}
	defer release()

	var out []graphdriver.Change
	err = walkChanges(ctx, baseDir, l.diff(), func(k fs.ChangeKind, p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if k == fs.ChangeKindDelete && filepath.Base(p) == opaqueMarker {
			hidden, err := hiddenByOpaque(baseDir, l.diff(), filepath.Dir(p))
			if err != nil {
				return err
			}
			for _, h := range hidden {
				out = append(out, graphdriver.Change{Path: h, Kind: graphdriver.ChangeDelete})
			}
			return nil
		}
		switch k {
		case fs.ChangeKindAdd:
			out = append(out, graphdriver.Change{Path: p, Kind: graphdriver.ChangeAdd})
		case fs.ChangeKindModify:
			out = append(out, graphdriver.Change{Path: p, Kind: graphdriver.ChangeModify})
		case fs.ChangeKindDelete:
			out = append(out, graphdriver.Change{Path: p, Kind: graphdriver.ChangeDelete})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("overlayfs: changes of %q: %w", id, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Usage is the disk use of the layer's diff directory alone.
func (d *Driver) Usage(ctx context.Context, id string) (graphdriver.Usage, error) {
	home, err := d.root()
	if err != nil {
		return graphdriver.Usage{}, err
	}
	if err := checkID(id); err != nil {
		return graphdriver.Usage{}, err
	}
	l, err := readLayer(home, id)
	if err != nil {
		return graphdriver.Usage{}, err
	}
	u, err := fs.DiskUsage(ctx, l.diff())
	if err != nil {
		return graphdriver.Usage{}, fmt.Errorf("overlayfs: usage of %q: %w", id, err)
	}
	return graphdriver.Usage{Size: u.Size, Inodes: u.Inodes}, nil
}

// prepareDiff finds the layer and a directory showing its parents merged:
// an empty directory for a base layer, the parent's diff when the parent is
// a base layer, or else a read-only overlay of all the parents mounted in
// scratch. release undoes what it made.
func (d *Driver) prepareDiff(id string) (l *layer, baseDir string, release func() error, err error) {
	home, err := d.root()
	if err != nil {
		return nil, "", nil, err
	}
	if err := checkID(id); err != nil {
		return nil, "", nil, err
	}
	unlock := d.lock(id)
	defer unlock()
	if l, err = readLayer(home, id); err != nil {
		return nil, "", nil, err
	}
	if len(l.lowers) == 1 {
		dir, err := resolveLower(home, l.lowers[0])
		if err != nil {
			return nil, "", nil, fmt.Errorf("overlayfs: diff of %q: %w", id, err)
		}
		return l, dir, func() error { return nil }, nil
	}

	scratch, err := os.MkdirTemp(filepath.Join(home, tmpDir), "diff-")
	if err != nil {
		return nil, "", nil, fmt.Errorf("overlayfs: diff of %q: %w", id, err)
	}
	release = func() error {
		if err := unmountAll(scratch); err != nil {
			return err // leave it for cleanScratch rather than delete through a mount
		}
		return os.RemoveAll(scratch)
	}
	if len(l.lowers) > 1 {
		d.mu.Lock()
		m := overlayMount{home: home, lowers: l.lowers, indexOff: d.indexOff}
		d.mu.Unlock()
		if err := m.mountAt(scratch); err != nil {
			release()
			return nil, "", nil, fmt.Errorf("overlayfs: diff of %q: parents' view: %w", id, err)
		}
	}
	return l, scratch, release, nil
}

// walkChanges reports the changes in upper (an overlay upperdir) against
// baseDir. Whiteouts of names the parents never had are dropped: they
// delete nothing and must not reach a tar as device nodes.
func walkChanges(ctx context.Context, baseDir, upper string, fn fs.ChangeFunc) error {
	return fs.DiffDirChanges(ctx, baseDir, upper, fs.DiffSourceOverlayFS, func(k fs.ChangeKind, p string, fi os.FileInfo, err error) error {
		if err == nil && k != fs.ChangeKindDelete && isWhiteout(fi) {
			return nil
		}
		return fn(k, p, fi, err)
	})
}

// overlayOrder delays the opaque marker of a directory until the
// directory's own entry has been passed on (continuity reports the marker
// first), so a tar holds each directory once, ahead of its marker. flush
// passes on a marker still waiting at the end of the walk.
func overlayOrder(fn fs.ChangeFunc) (handle fs.ChangeFunc, flush func() error) {
	var pending string
	flush = func() error {
		if pending == "" {
			return nil
		}
		p := pending
		pending = ""
		return fn(fs.ChangeKindDelete, p, nil, nil)
	}
	handle = func(k fs.ChangeKind, p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if k == fs.ChangeKindDelete && filepath.Base(p) == opaqueMarker {
			if err := flush(); err != nil {
				return err
			}
			pending = p
			return nil
		}
		if pending != "" && p == filepath.Dir(pending) {
			if err := fn(k, p, fi, nil); err != nil {
				return err
			}
			return flush()
		}
		if err := flush(); err != nil {
			return err
		}
		return fn(k, p, fi, nil)
	}
	return handle, flush
}

// isWhiteout reports whether fi is an overlay whiteout (a 0/0 char device).
func isWhiteout(fi os.FileInfo) bool {
	if fi == nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && unix.Major(st.Rdev) == 0 && unix.Minor(st.Rdev) == 0
}

// hiddenByOpaque lists the entries of dir in baseDir that the opaque dir in
// upper hides: those it does not itself contain.
func hiddenByOpaque(baseDir, upper, dir string) ([]string, error) {
	inBase, err := fs.RootPath(baseDir, dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(inBase)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if _, err := os.Lstat(filepath.Join(upper, dir, e.Name())); err == nil {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out, nil
}
