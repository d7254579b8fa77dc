// Package graphdrivertest is the conformance suite of the berth.graphdriver.v1
// plugin kind. Run it against an implementation directly, over go-plugin's
// in-memory gRPC connection, or against a plugin binary (DialBinary):
//
//	func TestConformance(t *testing.T) {
//		graphdrivertest.Suite(t, func(t *testing.T) (graphdriver.Driver, func()) {
//			d := mydriver.New()
//			if err := d.Configure(ctx, map[string]string{"home": t.TempDir()}); err != nil {
//				t.Fatal(err)
//			}
//			return d, func() {}
//		})
//	}
//
// The factory is called once per case and should give a driver with a fresh,
// empty home. The suite needs root (it checks real mounts) and writes its
// layer tars into its own temporary directories.
package graphdrivertest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/graphdriver"
)

// Media types of layer blobs the suite applies.
const (
	MediaTypeTar     = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Suite runs every conformance case against drivers made by factory, which
// returns a configured driver with a fresh home and a function that releases
// it; it is called once per case, inside that case's t.Run.
func Suite(t *testing.T, factory func(t *testing.T) (graphdriver.Driver, func())) {
	if os.Geteuid() != 0 {
		t.Skip("the graph driver suite mounts file systems and needs root")
	}
	cases := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, d graphdriver.Driver)
	}{
		{"Base", testBase},
		{"LayersAndWhiteouts", testLayersAndWhiteouts},
		{"TarCannotEscapeLayer", testTarCannotEscape},
		{"MountRefCounting", testMountRefCounting},
		{"RWLayerDiffAndChanges", testRWLayerDiffAndChanges},
		{"Remove", testRemove},
		{"NotFound", testNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, release := factory(t)
			// A cleanup, not a defer: the Unmounts the case registers with
			// t.Cleanup must still reach the driver.
			t.Cleanup(release)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c.run(t, ctx, d)
		})
	}
}

// entry is one member of a tar the suite writes.
type entry struct {
	name     string
	typ      byte // tar.TypeReg when zero
	body     string
	linkname string
	mode     int64
}

func dir(name string) entry        { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func file(name, body string) entry { return entry{name: name, body: body} }
func symlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, linkname: target}
}

// writeTar writes entries as a layer blob in a fresh temporary directory and
// returns its path; gz compresses it.
func writeTar(t *testing.T, gz bool, entries ...entry) string {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.linkname, Mode: mode,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", e.name, err)
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatalf("tar body %s: %v", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "layer.tar")
	if gz {
		path += ".gz"
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// layer creates id on parent and applies a tar of entries to it.
func layer(t *testing.T, ctx context.Context, d graphdriver.Driver, id, parent string, gz bool, entries ...entry) int64 {
	t.Helper()
	if err := d.Create(ctx, id, parent, false); err != nil {
		t.Fatalf("Create(%s, parent %q): %v", id, parent, err)
	}
	mt := MediaTypeTar
	if gz {
		mt = MediaTypeTarGzip
	}
	size, err := d.ApplyDiff(ctx, id, writeTar(t, gz, entries...), mt)
	if err != nil {
		t.Fatalf("ApplyDiff(%s): %v", id, err)
	}
	return size
}

// mount mounts id for holder and registers the matching Unmount.
func mount(t *testing.T, ctx context.Context, d graphdriver.Driver, id, holder string) string {
	t.Helper()
	path, err := d.Mount(ctx, id, holder)
	if err != nil {
		t.Fatalf("Mount(%s, %s): %v", id, holder, err)
	}
	if !filepath.IsAbs(path) {
		t.Fatalf("Mount(%s) = %q, not an absolute path", id, path)
	}
	t.Cleanup(func() { _ = d.Unmount(context.Background(), id, holder) })
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read %s: %v", path, err)
	}
	return string(b)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// mountPoints returns the mount points listed in /proc/self/mountinfo.
func mountPoints(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var points []string
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) > 4 {
			points = append(points, unescapeMountinfo(fields[4]))
		}
	}
	return points
}

// unescapeMountinfo undoes the octal escapes (\040 for a space...) of a
// mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := (int(s[i+1]-'0') << 6) | (int(s[i+2]-'0') << 3) | int(s[i+3]-'0')
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isMounted(t *testing.T, path string) bool {
	t.Helper()
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	return slices.Contains(mountPoints(t), path)
}

func testBase(t *testing.T, ctx context.Context, d graphdriver.Driver) {
	info, err := d.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindGraphDriver || info.Name == "" {
		t.Errorf("Info = %+v, want kind %s and a name", info, base.KindGraphDriver)
	}
	if err := d.Health(ctx); err != nil {
		t.Errorf("Health: %v", err)
	}
	if _, err := d.Status(ctx); err != nil {
		t.Errorf("Status: %v", err)
	}
}

func testLayersAndWhiteouts(t *testing.T, ctx context.Context, d graphdriver.Driver) {
	big := strings.Repeat("0123456789abcdef", 4096) // 64 KiB
	size := layer(t, ctx, d, "base", "", false,
		dir("etc"), file("etc/hostname", "base\n"),
		dir("a"), file("a/keep", "keep"), file("a/gone", "gone"),
		dir("opq"), file("opq/old", "old"), dir("opq/sub"), file("opq/sub/deep", "deep"),
		file("big", big),
	)
	if size < int64(len(big)) {
		t.Errorf("ApplyDiff size = %d, want at least %d", size, len(big))
	}
	if u, err := d.Usage(ctx, "base"); err != nil || u.Size < int64(len(big)) {
		t.Errorf("Usage(base) = %+v, %v; want a size of at least %d", u, err, len(big))
	}
	layer(t, ctx, d, "child", "base", true,
		file("etc/hostname", "child\n"),
		file("a/.wh.gone", ""),
		dir("opq"), file("opq/.wh..wh..opq", ""), file("opq/new", "new"),
		file("added", "added"),
	)

	child := mount(t, ctx, d, "child", "suite-child")
	if got := readFile(t, filepath.Join(child, "etc/hostname")); got != "child\n" {
		t.Errorf("child etc/hostname = %q, want the child's version", got)
	}
	if got := readFile(t, filepath.Join(child, "a/keep")); got != "keep" {
		t.Errorf("child a/keep = %q, want it inherited from base", got)
	}
	if got := readFile(t, filepath.Join(child, "big")); got != big {
		t.Errorf("child big: %d bytes, want the base's %d", len(got), len(big))
	}
	for _, gone := range []string{"a/gone", "a/.wh.gone", "opq/old", "opq/sub", "opq/.wh..wh..opq"} {
		if exists(filepath.Join(child, gone)) {
			t.Errorf("child shows %s, which the whiteouts remove", gone)
		}
	}
	for _, present := range []string{"opq/new", "added"} {
		if !exists(filepath.Join(child, present)) {
			t.Errorf("child lacks %s", present)
		}
	}

	baseView := mount(t, ctx, d, "base", "suite-base")
	if got := readFile(t, filepath.Join(baseView, "etc/hostname")); got != "base\n" {
		t.Errorf("base etc/hostname = %q after the child was applied", got)
	}
	for _, present := range []string{"a/gone", "opq/old", "opq/sub/deep"} {
		if !exists(filepath.Join(baseView, present)) {
			t.Errorf("base lost %s to its child's whiteouts", present)
		}
	}
}

func testTarCannotEscape(t *testing.T, ctx context.Context, d graphdriver.Driver) {
	outside := t.TempDir()
	target := filepath.Join(outside, "target")
	if err := os.WriteFile(target, []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Enough "../" to reach / from wherever the driver keeps its layers.
	up := strings.Repeat("../", 64)
	rel := strings.TrimPrefix(outside, "/")
	blobs := map[string][]entry{
		"dotdot": {file(up+rel+"/escape", "escaped")},
		"abs-symlink": {
			symlink("link", outside),
			file("link/evil", "evil"),
		},
		"rel-symlink": {
			symlink("rlink", up+rel),
			file("rlink/evil2", "evil"),
		},
		"hardlink": {
			{name: "hl", typ: tar.TypeLink, linkname: up + rel + "/target"},
			file("hl", "pwned"),
		},
		"symlink-overwrite": {
			symlink("sl", target),
			file("sl", "pwned"),
		},
	}
	for name, entries := range blobs {
		id := "escape-" + name
		if err := d.Create(ctx, id, "", false); err != nil {
			t.Fatalf("Create(%s): %v", id, err)
		}
		// Refusing the tar and applying it harmlessly are both correct.
		_, err := d.ApplyDiff(ctx, id, writeTar(t, false, entries...), MediaTypeTar)
		t.Logf("%s: ApplyDiff: %v", name, err)
	}
	left, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if e.Name() != "target" {
			t.Errorf("a layer tar wrote %s outside its layer", filepath.Join(outside, e.Name()))
		}
	}
	if got := readFile(t, target); got != "original" {
		t.Errorf("a layer tar changed %s outside its layer: %q", target, got)
	}
}

func testMountRefCounting(t *testing.T, ctx context.Context, d graphdriver.Driver) {
	layer(t, ctx, d, "img", "", false, file("hello", "hi"))
	if err := d.Create(ctx, "ctr", "img", true); err != nil {
		t.Fatalf("Create rw: %v", err)
	}
	p1, err := d.Mount(ctx, "ctr", "h1")
	if err != nil {
		t.Fatalf("Mount h1: %v", err)
	}
	t.Cleanup(func() {
		_ = d.Unmount(context.Background(), "ctr", "h1")
		_ = d.Unmount(context.Background(), "ctr", "h2")
	})
	p1again, err := d.Mount(ctx, "ctr", "h1")
	if err != nil || p1again != p1 {
		t.Errorf("second Mount for h1 = %q, %v; want %q", p1again, err, p1)
	}
	p2, err := d.Mount(ctx, "ctr", "h2")
	if err != nil || p2 != p1 {
		t.Errorf("Mount for h2 = %q, %v; want %q", p2, err, p1)
	}
	if !isMounted(t, p1) {
		t.Fatalf("%s is not in /proc/self/mountinfo after Mount", p1)
	}
	if got := readFile(t, filepath.Join(p1, "hello")); got != "hi" {
		t.Errorf("mounted view: hello = %q", got)
	}

	// h1 mounted twice counts once: one Unmount releases it.
	if err := d.Unmount(ctx, "ctr", "h1"); err != nil {
		t.Fatalf("Unmount h1: %v", err)
	}
	if !isMounted(t, p1) {
		t.Fatal("unmounted although h2 still holds the layer")
	}
	if got := readFile(t, filepath.Join(p1, "hello")); got != "hi" {
		t.Errorf("view after h1 left: hello = %q", got)
	}
	if err := d.Unmount(ctx, "ctr", "h1"); err != nil {
		t.Errorf("repeated Unmount for h1 is not idempotent: %v", err)
	}
	if !isMounted(t, p1) {
		t.Fatal("a repeated Unmount by h1 released h2's mount")
	}
	if err := d.Unmount(ctx, "ctr", "h2"); err != nil {
		t.Fatalf("Unmount h2: %v", err)
	}
	if isMounted(t, p1) {
		t.Errorf("%s still mounted after its last holder left", p1)
	}
}

// tarMember is one entry of a Diff.
type tarMember struct {
	typ  byte
	body string
}

func readDiff(t *testing.T, ctx context.Context, d graphdriver.Driver, id string) map[string]tarMember {
	t.Helper()
	rc, err := d.Diff(ctx, id)
	if err != nil {
		t.Fatalf("Diff(%s): %v", id, err)
	}
	defer rc.Close()
	members := map[string]tarMember{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Diff(%s) is not a valid tar: %v", id, err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("Diff(%s): %v", id, err)
		}
		name := strings.Trim(strings.TrimPrefix(hdr.Name, "./"), "/")
		members[name] = tarMember{typ: hdr.Typeflag, body: string(body)}
	}
	return members
}

func testRWLayerDiffAndChanges(t *testing.T, ctx context.Context, d graphdriver.Driver) {
	layer(t, ctx, d, "img", "", false, file("modify", "before"), dir("d"), file("d/remove", "x"), file("same", "same"))
	if err := d.Create(ctx, "ctr", "img", true); err != nil {
		t.Fatalf("Create rw: %v", err)
	}
	root := mount(t, ctx, d, "ctr", "suite")
	if err := os.WriteFile(filepath.Join(root, "added.txt"), []byte("new content"), 0o644); err != nil {
		t.Fatalf("write to the rw layer: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "modify"), []byte("after"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "d/remove")); err != nil {
		t.Fatal(err)
	}
	if err := d.Unmount(ctx, "ctr", "suite"); err != nil {
		t.Fatalf("Unmount: %v", err)
	}

	changes, err := d.Changes(ctx, "ctr")
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	got := map[string]graphdriver.ChangeKind{}
	for _, c := range changes {
		got[c.Path] = c.Kind
	}
	want := map[string]graphdriver.ChangeKind{
		"/added.txt": graphdriver.ChangeAdd,
		"/modify":    graphdriver.ChangeModify,
		"/d/remove":  graphdriver.ChangeDelete,
	}
	for path, kind := range want {
		if k, ok := got[path]; !ok || k != kind {
			t.Errorf("Changes: %s = %v (present %v), want kind %v; all: %+v", path, k, ok, kind, changes)
		}
	}
	if _, ok := got["/same"]; ok {
		t.Errorf("Changes lists /same, which did not change")
	}

	members := readDiff(t, ctx, d, "ctr")
	if m, ok := members["added.txt"]; !ok || m.body != "new content" {
		t.Errorf("Diff: added.txt = %+v (present %v)", m, ok)
	}
	if m, ok := members["modify"]; !ok || m.body != "after" {
		t.Errorf("Diff: modify = %+v (present %v)", m, ok)
	}
	if _, ok := members["d/.wh.remove"]; !ok {
		t.Errorf("Diff lacks the whiteout d/.wh.remove; members: %v", slices.Sorted(maps.Keys(members)))
	}
	if _, ok := members["same"]; ok {
		t.Error("Diff carries the unchanged file same")
	}
}

func testRemove(t *testing.T, ctx context.Context, d graphdriver.Driver) {
	layer(t, ctx, d, "parent", "", false, file("f", "x"))
	if err := d.Create(ctx, "child", "parent", true); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx, "parent"); err == nil {
		t.Error("Remove of a layer with a child succeeded")
	}
	if err := d.Remove(ctx, "child"); err != nil {
		t.Fatalf("Remove(child): %v", err)
	}
	if _, err := d.Mount(ctx, "child", "h"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Mount of a removed layer: %v, want not found", err)
	}
	if err := d.Remove(ctx, "child"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Remove: %v, want not found", err)
	}
	if err := d.Remove(ctx, "parent"); err != nil {
		t.Errorf("Remove(parent) once childless: %v", err)
	}
	// The id can be used again.
	if err := d.Create(ctx, "child", "", false); err != nil {
		t.Errorf("re-Create after Remove: %v", err)
	}
}

func testNotFound(t *testing.T, ctx context.Context, d graphdriver.Driver) {
	check := func(call string, err error) {
		t.Helper()
		if !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("%s on an unknown layer: %v, want errdefs.ErrNotFound", call, err)
		}
	}
	blob := writeTar(t, false, file("f", "x"))
	_, err := d.ApplyDiff(ctx, "nope", blob, MediaTypeTar)
	check("ApplyDiff", err)
	_, err = d.Mount(ctx, "nope", "h")
	check("Mount", err)
	check("Remove", d.Remove(ctx, "nope"))
	_, err = d.Diff(ctx, "nope")
	check("Diff", err)
	_, err = d.Changes(ctx, "nope")
	check("Changes", err)
	_, err = d.Usage(ctx, "nope")
	check("Usage", err)
	check("Create with an unknown parent", d.Create(ctx, "orphan", "nope", false))
}
