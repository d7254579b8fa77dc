package overlayfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/graphdriver"
	"golang.org/x/sys/unix"
)

var ctx = context.Background()

func TestInfoAndConfigure(t *testing.T) {
	d := New()
	info, err := d.Info(ctx)
	if err != nil || info.Name != "overlayfs" || info.Kind != base.KindGraphDriver {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	if _, err := d.Mount(ctx, "a", "h"); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Mount before Configure: %v, want ErrUnavailable", err)
	}
	if err := d.Health(ctx); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Health before Configure: %v, want ErrUnavailable", err)
	}
	for _, cfg := range []map[string]string{
		{},
		{"home": "relative/dir"},
		{"home": t.TempDir(), "colour": "blue"},
	} {
		if err := d.Configure(ctx, cfg); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Configure(%v) = %v, want ErrInvalidArgument", cfg, err)
		}
	}

	d, home := newDriver(t)
	if err := d.Health(ctx); err != nil {
		t.Errorf("Health: %v", err)
	}
	for _, dir := range []string{"l", ".tmp"} {
		if fi, err := os.Stat(filepath.Join(home, dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s not made: %v", dir, err)
		}
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Supports d_type": "true", "Using metacopy": "false", "Native Overlay Diff": "true"}
	got := map[string]string{}
	for _, kv := range st {
		got[kv[0]] = kv[1]
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Status[%s] = %q, want %q", k, got[k], v)
		}
	}
	if got["Backing Filesystem"] == "" || strings.HasPrefix(got["Backing Filesystem"], "<unknown") {
		t.Errorf("Backing Filesystem = %q", got["Backing Filesystem"])
	}
}

func TestCreateErrors(t *testing.T) {
	d, home := newDriver(t)
	mustCreate(t, d, "base", "", false)
	if err := d.Create(ctx, "base", "", false); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Create twice: %v, want ErrConflict", err)
	}
	if err := d.Create(ctx, "child", "nope", false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Create with missing parent: %v, want ErrNotFound", err)
	}
	for _, id := range []string{"", "../x", "a/b", ".hidden", "l"} {
		if err := d.Create(ctx, id, "", false); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Create(%q): %v, want ErrInvalidArgument", id, err)
		}
	}
	for _, call := range []func() error{
		func() error { _, err := d.Mount(ctx, "nope", "h"); return err },
		func() error { return d.Unmount(ctx, "nope", "h") },
		func() error { return d.Remove(ctx, "nope") },
		func() error { _, err := d.Diff(ctx, "nope"); return err },
		func() error { _, err := d.Changes(ctx, "nope"); return err },
		func() error { _, err := d.Usage(ctx, "nope"); return err },
		func() error { _, err := d.ApplyDiff(ctx, "nope", "/dev/null", ""); return err },
	} {
		if err := call(); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("call on unknown id: %v, want ErrNotFound", err)
		}
	}
	if _, err := d.ApplyDiff(ctx, "base", filepath.Join(home, "no-such-blob"), ""); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ApplyDiff of missing blob: %v, want ErrNotFound", err)
	}
	blob := writeBlob(t, plain, file("a", "a"))
	if _, err := d.ApplyDiff(ctx, "base", blob, "application/vnd.oci.image.layer.v1.tar+encrypted"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("ApplyDiff of encrypted media type: %v, want ErrInvalidArgument", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte(strings.Repeat("not a tar at all ", 100)), 0o644)
	if _, err := d.ApplyDiff(ctx, "base", garbage, ""); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("ApplyDiff of garbage: %v, want ErrInvalidArgument", err)
	}

	// Layout: a base layer has diff and link; a child has lower too, an rw
	// child a workdir.
	mustCreate(t, d, "ro", "base", false)
	mustCreate(t, d, "rw", "ro", true)
	for _, p := range []string{"base/diff", "base/link", "ro/diff", "ro/lower", "ro/merged", "rw/work", "rw/lower"} {
		if _, err := os.Stat(filepath.Join(home, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"base/lower", "base/work", "ro/work"} {
		assertMissing(t, filepath.Join(home, p))
	}
	lower := readString(t, filepath.Join(home, "rw", "lower"))
	parts := strings.Split(lower, ":")
	if len(parts) != 2 || parts[0] != "l/"+readString(t, filepath.Join(home, "ro", "link")) {
		t.Errorf("rw lower = %q", lower)
	}
	target, err := os.Readlink(filepath.Join(home, parts[1]))
	if err != nil || target != "../base/diff" {
		t.Errorf("short link of base → %q, %v", target, err)
	}
}

// TestLayersAndWhiteouts builds a base and a child layer from tars (plain,
// gzip, zstd) and checks what the merged mounts show.
func TestLayersAndWhiteouts(t *testing.T) {
	d, home := newDriver(t)

	mustCreate(t, d, "base", "", false)
	n := mustApply(t, d, "base", writeBlob(t, plain,
		dir("etc/"), file("etc/hostname", "base-host"), file("etc/motd", "hello"),
		dir("dir/"), file("dir/a", "A"), file("dir/b", "B"),
		dir("opq/"), file("opq/x", "X"), file("opq/y", "Y"),
		entry{name: "bin/sh", body: "#!", mode: 0o755},
	), "application/vnd.oci.image.layer.v1.tar")
	if n != int64(len("base-host")+len("hello")+1+1+1+1+2) {
		t.Errorf("applied size = %d", n)
	}

	mustCreate(t, d, "child", "base", false)
	mustApply(t, d, "child", writeBlob(t, gz,
		file("etc/.wh.motd", ""),
		file("dir/.wh.a", ""),
		file("opq/.wh..wh..opq", ""),
		file("opq/z", "Z"),
		file("etc/hostname", "child-host"),
	), "application/vnd.docker.image.rootfs.diff.tar.gzip")

	// The whiteouts are overlay's own now.
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(home, "child/diff/dir/a"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("dir/a in child's diff: mode %o rdev %d, want a 0/0 char device", st.Mode, st.Rdev)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(home, "child/diff/opq"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opq opaque xattr = %q, %v", buf[:n], err)
	}
	assertMissing(t, filepath.Join(home, "child/diff/opq/.wh..wh..opq"))

	mustCreate(t, d, "third", "child", false)
	mustApply(t, d, "third", writeBlob(t, zst, file("zstd-file", "Zs")), "application/vnd.oci.image.layer.v1.tar+zstd")

	// The base layer alone is a read-only bind mount.
	bm := mustMount(t, d, "base", "c1")
	if got := readString(t, filepath.Join(bm, "etc/motd")); got != "hello" {
		t.Errorf("base etc/motd = %q", got)
	}
	if err := os.WriteFile(filepath.Join(bm, "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write into read-only base mount: %v, want EROFS", err)
	}
	mustUnmount(t, d, "base", "c1")

	m := mustMount(t, d, "third", "c1")
	defer mustUnmount(t, d, "third", "c1")
	if m != filepath.Join(home, "third", "merged") {
		t.Errorf("merged path = %s", m)
	}
	if got := readString(t, filepath.Join(m, "etc/hostname")); got != "child-host" {
		t.Errorf("etc/hostname = %q", got)
	}
	assertMissing(t, filepath.Join(m, "etc/motd"))
	assertMissing(t, filepath.Join(m, "dir/a"))
	if got := readString(t, filepath.Join(m, "dir/b")); got != "B" {
		t.Errorf("dir/b = %q", got)
	}
	names, _ := os.ReadDir(filepath.Join(m, "opq"))
	if len(names) != 1 || names[0].Name() != "z" {
		t.Errorf("opaque dir lists %v, want only z", names)
	}
	if got := readString(t, filepath.Join(m, "zstd-file")); got != "Zs" {
		t.Errorf("zstd-file = %q", got)
	}
	if fi, err := os.Stat(filepath.Join(m, "bin/sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/sh: %v %v", fi, err)
	}
	if err := os.WriteFile(filepath.Join(m, "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write into read-only image mount: %v, want EROFS", err)
	}
	if _, err := d.ApplyDiff(ctx, "third", writeBlob(t, plain, file("x", "x")), ""); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("ApplyDiff on a mounted layer: %v, want ErrConflict", err)
	}

	// A container layer is writable; writes land in its diff only.
	mustCreate(t, d, "ctr", "third", true)
	cm := mustMount(t, d, "ctr", "ctr")
	defer mustUnmount(t, d, "ctr", "ctr")
	if err := os.WriteFile(filepath.Join(cm, "etc/hostname"), []byte("ctr-host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, filepath.Join(home, "ctr/diff/etc/hostname")); got != "ctr-host" {
		t.Errorf("container write not in its diff: %q", got)
	}
	if got := readString(t, filepath.Join(m, "etc/hostname")); got != "child-host" {
		t.Errorf("image view changed by container write: %q", got)
	}
}

// TestApplyCannotEscape feeds tars that try to write outside the layer:
// "../" names, an absolute name, a symlink to outside followed by a file
// through it, and a hard link to a file outside.
func TestApplyCannotEscape(t *testing.T) {
	d, home := newDriver(t)
	outside := filepath.Join(filepath.Dir(home), "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("secret"), 0o644)
	up := "../../../outside" // from <home>/<id>/diff to outside

	// Each case names the file it tries to plant outside; where the archive
	// package clamps the path instead of refusing, that file must turn up
	// inside the layer.
	cases := map[string]struct {
		entries []entry
		plant   string
	}{
		"dotdot":   {[]entry{file("../../../outside/dotdot", "x"), file("a/../../../../outside/dotdot2", "x")}, "dotdot"},
		"absolute": {[]entry{file(outside+"/absolute", "x")}, "absolute"},
		"symlink-rel": {[]entry{
			{name: "esc", typ: tar.TypeSymlink, link: up},
			file("esc/via-rel-symlink", "x"),
		}, "via-rel-symlink"},
		"symlink-abs": {[]entry{
			{name: "esc", typ: tar.TypeSymlink, link: outside},
			file("esc/via-abs-symlink", "x"),
		}, "via-abs-symlink"},
		"symlink-dir-chain": {[]entry{
			dir("d/"),
			{name: "d/up", typ: tar.TypeSymlink, link: "../../../../outside"},
			{name: "d/up/deeper", typ: tar.TypeDir},
			file("d/up/deeper/chain", "x"),
		}, "chain"},
		"hardlink": {[]entry{{name: "hl", typ: tar.TypeLink, link: up + "/secret"}}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			id := "esc-" + name
			mustCreate(t, d, id, "", false)
			_, err := d.ApplyDiff(ctx, id, writeBlob(t, plain, tc.entries...), "")
			t.Logf("ApplyDiff: %v", err)
			if err == nil && tc.plant != "" {
				found := false
				filepath.WalkDir(filepath.Join(home, id, "diff"), func(p string, e os.DirEntry, err error) error {
					if err == nil && e.Name() == tc.plant && e.Type().IsRegular() {
						found = true
					}
					return nil
				})
				if !found {
					t.Errorf("%s neither refused nor kept inside the layer", tc.plant)
				}
			}
			got, _ := os.ReadDir(outside)
			if len(got) != 1 || got[0].Name() != "secret" {
				t.Errorf("outside now holds %v", got)
			}
			if b, _ := os.ReadFile(secret); string(b) != "secret" {
				t.Errorf("secret changed to %q", b)
			}
			var sst, hst unix.Stat_t
			unix.Stat(secret, &sst)
			if sst.Nlink != 1 {
				t.Errorf("secret got a hard link (nlink %d)", sst.Nlink)
			}
			if err := unix.Lstat(filepath.Join(home, id, "diff", "hl"), &hst); err == nil && hst.Ino == sst.Ino {
				t.Errorf("hl is the outside file")
			}
		})
	}
}

func TestMountRefCounting(t *testing.T) {
	d, home := newDriver(t)
	mustCreate(t, d, "base", "", false)
	mustApply(t, d, "base", writeBlob(t, plain, file("f", "f")), "")
	mustCreate(t, d, "ctr", "base", true)
	merged := filepath.Join(home, "ctr", "merged")

	p1 := mustMount(t, d, "ctr", "a")
	p2 := mustMount(t, d, "ctr", "a")
	if p1 != p2 || p1 != merged {
		t.Errorf("paths %s, %s", p1, p2)
	}
	mustMount(t, d, "ctr", "b")
	if h, _ := d.Holders("ctr"); !reflect.DeepEqual(h, []string{"a", "b"}) {
		t.Errorf("holders = %v", h)
	}
	mps, _ := mountPoints(merged)
	if len(mps) != 1 {
		t.Errorf("mounted %d times, want once", len(mps))
	}
	if err := d.Remove(ctx, "ctr"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Remove while mounted: %v, want ErrConflict", err)
	}

	mustUnmount(t, d, "ctr", "a")
	assertMounted(t, merged, true)
	mustUnmount(t, d, "ctr", "a") // "a" holds nothing now: no effect
	assertMounted(t, merged, true)
	if got := readString(t, filepath.Join(merged, "f")); got != "f" {
		t.Errorf("f = %q", got)
	}
	mustUnmount(t, d, "ctr", "b")
	assertMounted(t, merged, false)
	mustUnmount(t, d, "ctr", "b")
	assertMissing(t, filepath.Join(home, "ctr", "holders"))
}

// TestRestartRebuildsHolders starts a second driver on the same home, as a
// restarted plugin process would, and checks that it knows the holders.
func TestRestartRebuildsHolders(t *testing.T) {
	d, home := newDriver(t)
	mustCreate(t, d, "base", "", false)
	mustCreate(t, d, "ctr", "base", true)
	mustCreate(t, d, "gone", "base", true)
	merged := mustMount(t, d, "ctr", "a")
	mustMount(t, d, "ctr", "b")
	goneMerged := mustMount(t, d, "gone", "x")
	// Someone unmounts "gone" behind the driver's back (or the host reboots).
	if err := unix.Unmount(goneMerged, 0); err != nil {
		t.Fatal(err)
	}

	d2 := New()
	if err := d2.Configure(ctx, map[string]string{"home": home}); err != nil {
		t.Fatal(err)
	}
	if h, _ := d2.Holders("ctr"); !reflect.DeepEqual(h, []string{"a", "b"}) {
		t.Errorf("restarted holders = %v", h)
	}
	if h, _ := d2.Holders("gone"); len(h) != 0 {
		t.Errorf("holders of an unmounted layer = %v, want none", h)
	}
	// The kernel re-declares its holders: no second mount.
	mustMount(t, d2, "ctr", "a")
	mustMount(t, d2, "ctr", "b")
	if mps, _ := mountPoints(merged); len(mps) != 1 {
		t.Errorf("mounted %d times after restart", len(mps))
	}
	if err := d2.Remove(ctx, "ctr"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Remove while held after restart: %v", err)
	}
	mustUnmount(t, d2, "ctr", "a")
	assertMounted(t, merged, true)
	mustUnmount(t, d2, "ctr", "b")
	assertMounted(t, merged, false)

	// A re-declared holder of the layer whose mount vanished mounts it again.
	mustMount(t, d2, "gone", "x")
	assertMounted(t, goneMerged, true)
	mustUnmount(t, d2, "gone", "x")
	assertMounted(t, goneMerged, false)
}

func TestRemove(t *testing.T) {
	d, home := newDriver(t)
	mustCreate(t, d, "base", "", false)
	mustCreate(t, d, "child", "base", false)
	link := readString(t, filepath.Join(home, "child", "link"))
	if err := d.Remove(ctx, "base"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Remove of a parent: %v, want ErrConflict", err)
	}
	mustMount(t, d, "child", "h")
	if err := d.Remove(ctx, "child"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Remove while mounted: %v, want ErrConflict", err)
	}
	mustUnmount(t, d, "child", "h")
	if err := d.Remove(ctx, "child"); err != nil {
		t.Fatalf("Remove child: %v", err)
	}
	assertMissing(t, filepath.Join(home, "child"))
	assertMissing(t, filepath.Join(home, "l", link))
	if err := d.Remove(ctx, "child"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Remove twice: %v, want ErrNotFound", err)
	}
	if err := d.Remove(ctx, "base"); err != nil {
		t.Fatalf("Remove base: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(home, "l")); len(left) != 0 {
		t.Errorf("links left: %v", left)
	}
	if left, _ := os.ReadDir(filepath.Join(home, ".tmp")); len(left) != 0 {
		t.Errorf("scratch left: %v", left)
	}
}

// TestDiffAndChanges changes files in a container layer, then checks
// Changes, the Diff tar, and that the tar applied on the same parent
// reproduces the container's view.
func TestDiffAndChanges(t *testing.T) {
	d, _ := newDriver(t)
	mustCreate(t, d, "base", "", false)
	mustApply(t, d, "base", writeBlob(t, plain,
		dir("etc/"), file("etc/keep", "keep"), file("etc/change", "old"), file("etc/remove", "bye"),
		dir("data/"), file("data/old1", "1"), file("data/old2", "2"),
	), "")
	mustCreate(t, d, "img", "base", false)
	mustApply(t, d, "img", writeBlob(t, plain, file("img-file", "img")), "")
	mustCreate(t, d, "ctr", "img", true)

	m := mustMount(t, d, "ctr", "ctr")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(m, "etc/change"), []byte("new"), 0o644))
	must(os.Remove(filepath.Join(m, "etc/remove")))
	must(os.WriteFile(filepath.Join(m, "added"), []byte("added"), 0o644))
	must(os.Remove(filepath.Join(m, "img-file")))
	// Replacing a directory makes it opaque in the upperdir.
	must(os.RemoveAll(filepath.Join(m, "data")))
	must(os.Mkdir(filepath.Join(m, "data"), 0o755))
	must(os.WriteFile(filepath.Join(m, "data/new"), []byte("n"), 0o644))

	changes, err := d.Changes(ctx, "ctr")
	must(err)
	want := []graphdriver.Change{
		{Path: "/added", Kind: graphdriver.ChangeAdd},
		{Path: "/data", Kind: graphdriver.ChangeModify},
		{Path: "/data/new", Kind: graphdriver.ChangeAdd},
		{Path: "/data/old1", Kind: graphdriver.ChangeDelete},
		{Path: "/data/old2", Kind: graphdriver.ChangeDelete},
		{Path: "/etc", Kind: graphdriver.ChangeModify},
		{Path: "/etc/change", Kind: graphdriver.ChangeModify},
		{Path: "/etc/remove", Kind: graphdriver.ChangeDelete},
		{Path: "/img-file", Kind: graphdriver.ChangeDelete},
	}
	if !reflect.DeepEqual(changes, want) {
		t.Errorf("Changes:\n got %v\nwant %v", changes, want)
	}

	rc, err := d.Diff(ctx, "ctr")
	must(err)
	blob := filepath.Join(t.TempDir(), "diff.tar")
	f, err := os.Create(blob)
	must(err)
	_, err = io.Copy(f, rc)
	must(err)
	must(rc.Close())
	must(f.Close())

	entries := map[string]string{}
	tf, _ := os.Open(blob)
	tr := tar.NewReader(tf)
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(err)
		body, _ := io.ReadAll(tr)
		if _, dup := entries[h.Name]; dup {
			t.Errorf("tar holds %s twice", h.Name)
		}
		entries[h.Name] = string(body)
		order = append(order, h.Name)
		if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
			t.Errorf("device %s in diff tar", h.Name)
		}
	}
	tf.Close()
	for name, body := range map[string]string{
		"added": "added", "etc/change": "new", "etc/.wh.remove": "", ".wh.img-file": "",
		"data/": "", "data/.wh..wh..opq": "", "data/new": "n",
	} {
		got, ok := entries[name]
		if !ok || got != body {
			t.Errorf("diff tar %s = %q (present %v), want %q; entries %v", name, got, ok, body, order)
		}
	}
	for _, name := range []string{"etc/keep", "data/old1", "img-file"} {
		if _, ok := entries[name]; ok {
			t.Errorf("diff tar holds unchanged or deleted %s", name)
		}
	}

	// Round trip: the diff as an image layer on the same parent.
	mustCreate(t, d, "committed", "img", false)
	mustApply(t, d, "committed", blob, "")
	cm := mustMount(t, d, "committed", "check")
	for _, p := range []string{"etc/keep", "etc/change", "added", "data/new"} {
		if a, b := readString(t, filepath.Join(m, p)), readString(t, filepath.Join(cm, p)); a != b {
			t.Errorf("%s: container %q, committed %q", p, a, b)
		}
	}
	for _, p := range []string{"etc/remove", "img-file", "data/old1", "data/old2"} {
		assertMissing(t, filepath.Join(cm, p))
	}
	mustUnmount(t, d, "committed", "check")
	mustUnmount(t, d, "ctr", "ctr")

	// Diff works on an unmounted layer too, and leaves no view mounted.
	rc, err = d.Diff(ctx, "ctr")
	must(err)
	n, err := io.Copy(io.Discard, rc)
	must(err)
	rc.Close()
	if n == 0 {
		t.Error("empty diff of an unmounted layer")
	}
	// A reader that gives up early must not leak the parents' view.
	rc, err = d.Diff(ctx, "ctr")
	must(err)
	rc.Close()

	u, err := d.Usage(ctx, "ctr")
	must(err)
	if u.Size < int64(len("added")+len("new")+1) || u.Inodes < 5 {
		t.Errorf("Usage = %+v", u)
	}
}

// TestDeepChain mounts a chain of 60 layers from a long home path, so the
// absolute lowerdir would not fit in a page and the short relative links
// must be used.
func TestDeepChain(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlay mounts need root")
	}
	root := t.TempDir()
	home := filepath.Join(root, strings.Repeat("deep-home-", 12))
	d := New()
	if err := d.Configure(ctx, map[string]string{"home": home}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkNoMounts(t, root) })

	const depth = 60
	parent := ""
	for i := range depth {
		id := fmt.Sprintf("%064x", i+1) // ids as long as the kernel's
		mustCreate(t, d, id, parent, false)
		mustApply(t, d, id, writeBlob(t, gz, file(fmt.Sprintf("layer-%02d", i), fmt.Sprint(i))), "")
		parent = id
	}
	mustCreate(t, d, "container", parent, true)
	l, err := readLayer(d.home, "container")
	if err != nil {
		t.Fatal(err)
	}
	abs := overlayMount{home: d.home, lowers: l.lowers, upper: "container/diff", work: "container/work"}.data(d.home)
	if len(abs) < os.Getpagesize() {
		t.Fatalf("test setup: absolute mount data is only %d bytes", len(abs))
	}

	m := mustMount(t, d, "container", "c")
	for i := range depth {
		if got := readString(t, filepath.Join(m, fmt.Sprintf("layer-%02d", i))); got != fmt.Sprint(i) {
			t.Errorf("layer-%02d = %q", i, got)
		}
	}
	if err := os.WriteFile(filepath.Join(m, "top"), []byte("t"), 0o644); err != nil {
		t.Errorf("write to deep container layer: %v", err)
	}
	// The process's own working directory is untouched by the relative mount.
	if wd, _ := os.Getwd(); strings.HasPrefix(wd, home) {
		t.Errorf("working directory moved to %s", wd)
	}
	// A read-only view of the whole chain (Diff's base view) mounts as well.
	changes, err := d.Changes(ctx, "container")
	if err != nil || len(changes) != 1 || changes[0].Path != "/top" {
		t.Errorf("Changes = %v, %v", changes, err)
	}
	mustUnmount(t, d, "container", "c")
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/a\040b\134c`); got != `/a b\c` {
		t.Errorf("got %q", got)
	}
}

// TestImpliedParentDirs checks that a directory a tar only implies takes
// its mode from the parent layer, so the merged view keeps that mode.
func TestImpliedParentDirs(t *testing.T) {
	d, _ := newDriver(t)
	mustCreate(t, d, "base", "", false)
	mustApply(t, d, "base", writeBlob(t, plain, entry{name: "secret/", typ: tar.TypeDir, mode: 0o700}), "")
	mustCreate(t, d, "child", "base", false)
	mustApply(t, d, "child", writeBlob(t, plain, file("secret/key", "k")), "")
	m := mustMount(t, d, "child", "h")
	defer mustUnmount(t, d, "child", "h")
	fi, err := os.Stat(filepath.Join(m, "secret"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("secret: %v, %v; want mode 0700", fi, err)
	}
}

// TestConcurrentHolders mounts and unmounts one layer from many holders at
// once: it must be mounted exactly once while any holder remains.
func TestConcurrentHolders(t *testing.T) {
	d, home := newDriver(t)
	mustCreate(t, d, "base", "", false)
	mustCreate(t, d, "ctr", "base", true)
	merged := filepath.Join(home, "ctr", "merged")
	const n = 8
	errs := make(chan error, 2*n)
	for i := range n {
		go func() { _, err := d.Mount(ctx, "ctr", fmt.Sprint("h", i)); errs <- err }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if mps, _ := mountPoints(merged); len(mps) != 1 {
		t.Fatalf("mounted %d times", len(mps))
	}
	for i := range n {
		go func() { errs <- d.Unmount(ctx, "ctr", fmt.Sprint("h", i)) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	assertMounted(t, merged, false)
}

// TestRWBaseLayer mounts an rw layer without parents: a writable bind
// mount of its diff.
func TestRWBaseLayer(t *testing.T) {
	d, home := newDriver(t)
	mustCreate(t, d, "scratch", "", true)
	m := mustMount(t, d, "scratch", "h")
	if err := os.WriteFile(filepath.Join(m, "f"), []byte("x"), 0o644); err != nil {
		t.Errorf("write to rw base layer: %v", err)
	}
	mustUnmount(t, d, "scratch", "h")
	if got := readString(t, filepath.Join(home, "scratch", "diff", "f")); got != "x" {
		t.Errorf("diff/f = %q", got)
	}
	changes, err := d.Changes(ctx, "scratch")
	if err != nil || len(changes) != 1 || changes[0] != (graphdriver.Change{Path: "/f", Kind: graphdriver.ChangeAdd}) {
		t.Errorf("Changes = %v, %v", changes, err)
	}
}
