package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/builtin/overlayfs"
	"github.com/berth-dev/berth/kernel/image"
	"github.com/berth-dev/berth/kernel/image/imagetest"
)

// TestPullWithOverlayfs pulls a two-layer image (the second layer deletes
// a file of the first) through the real overlayfs driver, in process, and
// reads the merged root filesystem. It is an integration test of this
// package with builtin/overlayfs, kept here because the store's contract
// with a graph driver is what it checks; only the test imports builtin/.
func TestPullWithOverlayfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlay mounts need root")
	}
	if _, err := os.Stat(imagetest.BusyboxPath); err != nil {
		t.Skip("needs busybox-static")
	}
	ctx := context.Background()
	root := t.TempDir()
	drv := overlayfs.New()
	if err := drv.Configure(ctx, map[string]string{"home": filepath.Join(root, "overlay")}); err != nil {
		t.Skipf("overlayfs unavailable: %v", err)
	}
	db, err := bolt.Open(filepath.Join(root, "berth.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := image.New(db, root, drv, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := imagetest.StartRegistry()
	defer reg.Close()

	bb, err := imagetest.BusyboxImage()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "etc/.wh.hostname", Typeflag: tar.TypeReg, Mode: 0o644})
	tw.WriteHeader(&tar.Header{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "app/hello.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6})
	tw.Write([]byte("hello\n"))
	tw.Close()
	top, err := imagetest.LayerFromTar(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(bb, top)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push(ctx, "app:latest", img); err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/app:latest"
	if err := store.Pull(ctx, ref, nil, "", nil); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	mnt, err := drv.Mount(ctx, got.TopLayer, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Unmount(ctx, got.TopLayer, "test")
	if data, err := os.ReadFile(filepath.Join(mnt, "app", "hello.txt")); err != nil || string(data) != "hello\n" {
		t.Errorf("app/hello.txt: %q %v", data, err)
	}
	if fi, err := os.Stat(filepath.Join(mnt, "bin", "busybox")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("bin/busybox from the base layer: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(mnt, "etc", "hostname")); !os.IsNotExist(err) {
		t.Errorf("etc/hostname should be deleted by the whiteout: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "etc", "passwd")); err != nil {
		t.Errorf("etc/passwd: %v", err)
	}
	if err := drv.Unmount(ctx, got.TopLayer, "test"); err != nil {
		t.Fatal(err)
	}
	res, err := store.Delete(ctx, ref, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 { // tag, digest reference, image, two layers
		t.Errorf("delete: %+v", res)
	}
	if layers, _ := os.ReadDir(filepath.Join(root, "overlay")); len(layers) > 2 { // only the driver's l/ and tmp/
		var names []string
		for _, l := range layers {
			names = append(names, l.Name())
		}
		t.Errorf("overlay home after delete: %v", names)
	}
}
