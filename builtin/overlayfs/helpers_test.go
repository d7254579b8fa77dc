package overlayfs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// entry is one member of a test tar.
type entry struct {
	name string
	typ  byte // tar.TypeReg when zero
	body string
	link string
	mode int64
}

func file(name, body string) entry { return entry{name: name, body: body} }
func dir(name string) entry        { return entry{name: name, typ: tar.TypeDir} }

// compressions a test blob can use.
const (
	plain = iota
	gz
	zst
)

// writeBlob writes a layer tar (compressed as asked) to a file and returns
// its path.
func writeBlob(t *testing.T, comp int, entries ...entry) string {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, ModTime: time.Unix(1700000000, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	switch comp {
	case plain:
		out = raw
	case gz:
		zw := gzip.NewWriter(&out)
		zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case zst:
		zw, err := zstd.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.CreateTemp(t.TempDir(), "blob-")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// newDriver configures a driver on a fresh home under a temp dir and checks,
// at the end of the test, that nothing is left mounted under it.
func newDriver(t *testing.T) (*Driver, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("overlay mounts need root")
	}
	root := t.TempDir()
	home := filepath.Join(root, "overlay2")
	d := New()
	if err := d.Configure(context.Background(), map[string]string{"home": home}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { checkNoMounts(t, root) })
	return d, home
}

// checkNoMounts fails the test if anything is mounted under root, and
// unmounts it so the temp dir can be removed safely.
func checkNoMounts(t *testing.T, root string) {
	t.Helper()
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Errorf("resolve %s: %v", root, err)
		return
	}
	mps, err := mountPoints(real)
	if err != nil {
		t.Errorf("mountinfo: %v", err)
		return
	}
	if len(mps) > 0 {
		t.Errorf("left mounted at the end of the test: %v", mps)
	}
	for i := len(mps) - 1; i >= 0; i-- {
		unix.Unmount(mps[i], unix.MNT_DETACH)
	}
}

func mustCreate(t *testing.T, d *Driver, id, parent string, rw bool) {
	t.Helper()
	if err := d.Create(context.Background(), id, parent, rw); err != nil {
		t.Fatalf("Create(%s, %q, %v): %v", id, parent, rw, err)
	}
}

func mustApply(t *testing.T, d *Driver, id, blob, mediaType string) int64 {
	t.Helper()
	n, err := d.ApplyDiff(context.Background(), id, blob, mediaType)
	if err != nil {
		t.Fatalf("ApplyDiff(%s): %v", id, err)
	}
	return n
}

func mustMount(t *testing.T, d *Driver, id, holder string) string {
	t.Helper()
	p, err := d.Mount(context.Background(), id, holder)
	if err != nil {
		t.Fatalf("Mount(%s, %s): %v", id, holder, err)
	}
	return p
}

func mustUnmount(t *testing.T, d *Driver, id, holder string) {
	t.Helper()
	if err := d.Unmount(context.Background(), id, holder); err != nil {
		t.Fatalf("Unmount(%s, %s): %v", id, holder, err)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

func assertMissing(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: want missing, got err=%v", path, err)
	}
}

func assertMounted(t *testing.T, path string, want bool) {
	t.Helper()
	got, err := isMounted(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%s mounted = %v, want %v", path, got, want)
	}
}
