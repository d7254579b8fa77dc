package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/kernel/image/imagetest"
	"github.com/berth-dev/berth/sdk/errdefs"
)

type env struct {
	t      *testing.T
	root   string
	db     *bolt.DB
	driver *fakeDriver
	store  *Store
	reg    *imagetest.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if _, err := os.Stat(imagetest.BusyboxPath); err != nil {
		t.Skip("needs busybox-static")
	}
	root := t.TempDir()
	db, err := bolt.Open(filepath.Join(root, "berth.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	drv := newFakeDriver(filepath.Join(root, "graph"))
	reg := imagetest.StartRegistry()
	t.Cleanup(reg.Close)
	e := &env{t: t, root: root, db: db, driver: drv, reg: reg}
	e.store = e.open()
	return e
}

func (e *env) open() *Store {
	s, err := New(e.db, e.root, e.driver, Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) pull(ref string) []JSONMessage {
	e.t.Helper()
	var buf bytes.Buffer
	if err := e.store.Pull(context.Background(), ref, nil, "", &buf); err != nil {
		e.t.Fatalf("pull %s: %v", ref, err)
	}
	return decodeMessages(e.t, &buf)
}

func decodeMessages(t *testing.T, buf *bytes.Buffer) []JSONMessage {
	t.Helper()
	var out []JSONMessage
	dec := json.NewDecoder(buf)
	for dec.More() {
		var m JSONMessage
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("progress is not newline-delimited JSON: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// layerCounts returns the number of layer records and the refcount of each.
func (e *env) layerRecords() map[string]layerRecord {
	out := map[string]layerRecord{}
	e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(BucketLayers)).ForEach(func(k, v []byte) error {
			var r layerRecord
			json.Unmarshal(v, &r)
			out[string(k)] = r
			return nil
		})
	})
	return out
}

func (e *env) blobCount() int {
	entries, err := os.ReadDir(filepath.Join(e.root, "content", "blobs", "sha256"))
	if err != nil {
		e.t.Fatal(err)
	}
	return len(entries)
}

func statuses(msgs []JSONMessage) []string {
	var out []string
	for _, m := range msgs {
		if m.ID != "" {
			out = append(out, m.ID+" "+m.Status)
		} else {
			out = append(out, m.Status)
		}
	}
	return out
}

func TestParseReference(t *testing.T) {
	for _, tc := range []struct{ in, want, familiar string }{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"},
		{"user/app", "docker.io/user/app:latest", "user/app:latest"},
		{"127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:latest"},
		{"localhost:5000/a/b:v1", "localhost:5000/a/b:v1", "localhost:5000/a/b:v1"},
		{"ghcr.io/org/img:tag", "ghcr.io/org/img:tag", "ghcr.io/org/img:tag"},
		{"busybox@sha256:" + strings.Repeat("a", 64), "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64), "busybox@sha256:" + strings.Repeat("a", 64)},
		{"busybox:1@sha256:" + strings.Repeat("b", 64), "docker.io/library/busybox@sha256:" + strings.Repeat("b", 64), "busybox@sha256:" + strings.Repeat("b", 64)},
	} {
		r, err := ParseReference(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if r.String() != tc.want || FamiliarString(r) != tc.familiar {
			t.Errorf("%s: got %s (%s), want %s (%s)", tc.in, r, FamiliarString(r), tc.want, tc.familiar)
		}
	}
	for _, bad := range []string{"", "Busybox", "busy box", "a:b:c", ":tag", "busybox@sha256:abc", strings.Repeat("a", 64)} {
		_, err := ParseReference(bad)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%q: want ErrInvalidArgument, got %v", bad, err)
		}
	}
	_, err := ParseReference("a:b:c")
	if err == nil || err.Error() != "invalid reference format" {
		t.Errorf("message: got %v, want invalid reference format", err)
	}
}

func TestInsecureRegistry(t *testing.T) {
	for _, tc := range []struct {
		domain string
		list   []string
		want   bool
	}{
		{"127.0.0.1:5000", nil, true},
		{"127.1.2.3", nil, true},
		{"localhost:5000", nil, true},
		{"[::1]:5000", nil, true},
		{"docker.io", nil, false},
		{"10.0.0.5:5000", nil, false},
		{"10.0.0.5:5000", []string{"10.0.0.0/8"}, true},
		{"reg.example:5000", []string{"reg.example:5000"}, true},
		{"reg.example:5000", []string{"reg.example"}, true},
		{"other.example", []string{"reg.example"}, false},
	} {
		if got := isInsecureRegistry(tc.domain, tc.list); got != tc.want {
			t.Errorf("%s %v: got %v", tc.domain, tc.list, got)
		}
	}
}

func TestPullBusybox(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ref, digest, err := e.reg.PushBusybox(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.pull(ref)
	got := statuses(msgs)
	img, err := e.store.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	layer := shortID(img.ChainIDs[0]) // one layer: chain id = diff id, not the blob digest
	_ = layer
	var layerID string
	for _, m := range msgs {
		if m.Status == "Pulling fs layer" {
			layerID = m.ID
		}
	}
	if len(layerID) != 12 {
		t.Fatalf("no Pulling fs layer message with a 12-hex id: %q", got)
	}
	want := []string{
		"latest Pulling from busybox",
		layerID + " Pulling fs layer",
		layerID + " Downloading",
		layerID + " Verifying Checksum",
		layerID + " Download complete",
		layerID + " Extracting",
		layerID + " Pull complete",
		"Digest: " + digest,
		"Status: Downloaded newer image for " + ref,
	}
	// Downloading may repeat; compare with repeats collapsed.
	var collapsed []string
	for _, s := range got {
		if len(collapsed) == 0 || collapsed[len(collapsed)-1] != s {
			collapsed = append(collapsed, s)
		}
	}
	if strings.Join(collapsed, "\n") != strings.Join(want, "\n") {
		t.Fatalf("progress:\n%s\nwant:\n%s", strings.Join(collapsed, "\n"), strings.Join(want, "\n"))
	}
	for _, m := range msgs {
		if m.Status == "Downloading" && (m.ProgressDetail == nil || m.ProgressDetail.Total == 0 || m.ProgressDetail.Current > m.ProgressDetail.Total) {
			t.Errorf("Downloading without sane progressDetail: %+v", m)
		}
	}

	// The image record.
	if len(img.RepoTags) != 1 || img.RepoTags[0] != ref {
		t.Errorf("RepoTags %v", img.RepoTags)
	}
	if len(img.RepoDigests) != 1 || img.RepoDigests[0] != strings.TrimSuffix(ref, ":latest")+"@"+digest {
		t.Errorf("RepoDigests %v", img.RepoDigests)
	}
	if img.Os != "linux" || img.Architecture != runtime.GOARCH || img.Config.Config.Cmd[0] != "sh" {
		t.Errorf("config: %s/%s cmd %v", img.Os, img.Architecture, img.Config.Config.Cmd)
	}
	if img.Size <= 0 {
		t.Errorf("size %d", img.Size)
	}
	// Files were unpacked into the top layer.
	dir := e.driver.dir(img.TopLayer)
	if fi, err := os.Stat(filepath.Join(dir, "bin", "busybox")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("bin/busybox in layer: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin", "sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh: %q %v", l, err)
	}

	// Lookups by every name.
	hex := strings.TrimPrefix(img.ID, "sha256:")
	for _, name := range []string{img.ID, hex, hex[:12], "sha256:" + hex[:8], strings.TrimSuffix(ref, ":latest"), img.RepoDigests[0]} {
		got, err := e.store.Get(name)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q): %v", name, err)
		}
	}
	if _, err := e.store.Get("nosuch"); !errors.Is(err, errdefs.ErrNotFound) || err.Error() != "No such image: nosuch:latest" {
		t.Errorf("Get(nosuch): %v", err)
	}

	// A second pull changes nothing.
	creates := e.driver.callCount("Create")
	msgs = e.pull(ref)
	if last := msgs[len(msgs)-1].Status; last != "Status: Image is up to date for "+ref {
		t.Errorf("second pull: %q", statuses(msgs))
	}
	if e.driver.callCount("Create") != creates {
		t.Error("second pull created layers")
	}
	list, err := e.store.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v %d", err, len(list))
	}
}

func TestPullNotFound(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ref, _, err := e.reg.PushBusybox(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	err = e.store.Pull(ctx, strings.TrimSuffix(ref, "latest")+"nosuchtag", nil, "", nil)
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.HasPrefix(err.Error(), "manifest for "+e.reg.Host+"/busybox:nosuchtag not found") {
		t.Errorf("unknown tag: %v", err)
	}
	err = e.store.Pull(ctx, e.reg.Host+"/nosuchrepo", nil, "", nil)
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.HasPrefix(err.Error(), "pull access denied for "+e.reg.Host+"/nosuchrepo, repository does not exist") {
		t.Errorf("unknown repository: %v", err)
	}
	if err := e.store.Pull(ctx, "Bad:Ref:x", nil, "", nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad reference: %v", err)
	}
	if err := e.store.Pull(ctx, ref, nil, "linux/arm64", nil); err != nil {
		// A plain manifest (not an index) is taken whatever the platform, as
		// go-containerregistry does; only indexes are chosen from.
		t.Logf("pull with platform: %v", err)
	}
}

func TestPullDiffIDMismatchRecordsNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	img, err := imagetest.BusyboxImage()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[0] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	bad, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Push(ctx, "bad:latest", bad); err != nil {
		t.Fatal(err)
	}
	err = e.store.Pull(ctx, e.reg.Host+"/bad", nil, "", nil)
	if err == nil || !strings.Contains(err.Error(), "diff id") {
		t.Fatalf("want diff id error, got %v", err)
	}
	if list, _ := e.store.List(); len(list) != 0 {
		t.Errorf("image recorded: %d", len(list))
	}
	if n := len(e.layerRecords()); n != 0 {
		t.Errorf("%d layer records", n)
	}
	if n := e.driver.layerCount(); n != 0 {
		t.Errorf("%d driver layers", n)
	}
	if _, err := e.store.Get(e.reg.Host + "/bad"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ref recorded: %v", err)
	}
}

func TestApplyFailureRollsBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ref, _, err := e.reg.PushBusybox(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	e.driver.failApply = errors.New("disk full")
	if err := e.store.Pull(ctx, ref, nil, "", nil); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("want apply error, got %v", err)
	}
	if e.driver.layerCount() != 0 || len(e.layerRecords()) != 0 {
		t.Errorf("layers left after failed apply: driver %d, records %d", e.driver.layerCount(), len(e.layerRecords()))
	}
	e.driver.failApply = nil
	e.pull(ref) // the retry works
}

// twoImages pushes base (busybox) and derived (busybox + one layer).
func twoImages(t *testing.T, e *env) (base, derived string) {
	t.Helper()
	ctx := context.Background()
	ref, _, err := e.reg.PushBusybox(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	bb, _ := imagetest.BusyboxImage()
	extra, err := imagetest.LayerFromTar(tarOf(t, map[string]string{"app/hello.txt": "hello\n"}))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(bb, extra)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Push(ctx, "derived:v1", img); err != nil {
		t.Fatal(err)
	}
	return ref, e.reg.Host + "/derived:v1"
}

func tarOf(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSharedLayersAndDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base, derived := twoImages(t, e)
	e.pull(base)
	msgs := e.pull(derived)
	var exists, pulled int
	for _, m := range msgs {
		switch m.Status {
		case "Already exists":
			exists++
		case "Pull complete":
			pulled++
		}
	}
	if exists != 1 || pulled != 1 {
		t.Fatalf("derived pull: %d Already exists, %d Pull complete: %q", exists, pulled, statuses(msgs))
	}
	bImg, _ := e.store.Get(base)
	dImg, _ := e.store.Get(derived)
	recs := e.layerRecords()
	if len(recs) != 2 || recs[bImg.ChainIDs[0]].RefCount != 2 || recs[dImg.ChainIDs[1]].RefCount != 1 {
		t.Fatalf("layer records: %+v", recs)
	}
	if recs[dImg.ChainIDs[1]].Parent != bImg.ChainIDs[0] {
		t.Errorf("parent chain id")
	}
	if e.driver.layerCount() != 2 {
		t.Fatalf("driver layers %d", e.driver.layerCount())
	}
	if dImg.Size <= bImg.Size {
		t.Errorf("sizes: derived %d base %d", dImg.Size, bImg.Size)
	}

	// A container uses the base image: removing its only tag needs force.
	inUse := func(id string) (string, bool) {
		if id == bImg.ID {
			return strings.Repeat("c", 64), false
		}
		return "", false
	}
	_, err := e.store.Delete(ctx, base, false, inUse)
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "container cccccccccccc is using its referenced image") {
		t.Fatalf("delete in use: %v", err)
	}
	running := func(string) (string, bool) { return strings.Repeat("d", 64), true }
	if _, err := e.store.Delete(ctx, bImg.ID, true, running); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "cannot be forced") {
		t.Fatalf("delete by id, running container: %v", err)
	}

	// Tag then untag: only the reference goes.
	if err := e.store.Tag(base, "mytag:1"); err != nil {
		t.Fatal(err)
	}
	res, err := e.store.Delete(ctx, "mytag:1", false, nil)
	if err != nil || len(res) != 1 || res[0].Untagged != "mytag:1" {
		t.Fatalf("untag: %+v %v", res, err)
	}

	// Delete base: its layer stays, used by derived.
	res, err = e.store.Delete(ctx, base, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Untagged != base || res[len(res)-1].Deleted != bImg.ID {
		t.Errorf("delete base: %+v", res)
	}
	if e.driver.layerCount() != 2 || e.layerRecords()[bImg.ChainIDs[0]].RefCount != 1 {
		t.Fatalf("shared layer released too early")
	}
	if _, err := e.store.Get(base); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("base still there: %v", err)
	}

	// Delete derived by id prefix: all layers and blobs go.
	res, err = e.store.Delete(ctx, dImg.ID[7:19], false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, r := range res {
		if r.Deleted != "" {
			deleted = append(deleted, r.Deleted)
		}
	}
	if len(deleted) != 3 || deleted[0] != dImg.ID {
		t.Errorf("deleted %v (want image and two layers)", deleted)
	}
	if e.driver.layerCount() != 0 || len(e.layerRecords()) != 0 {
		t.Errorf("layers left: driver %d records %d", e.driver.layerCount(), len(e.layerRecords()))
	}
	if n := e.blobCount(); n != 0 {
		t.Errorf("%d blobs left", n)
	}
	if _, err := e.store.Delete(ctx, "nosuch", false, nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("delete missing: %v", err)
	}
}

func TestDeleteByIDWithTwoRepos(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ref, _, err := e.reg.PushBusybox(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	e.pull(ref)
	img, _ := e.store.Get(ref)
	if err := e.store.Tag(ref, "other/name:x"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Delete(ctx, img.ID, false, nil); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "referenced in multiple repositories") {
		t.Fatalf("want conflict, got %v", err)
	}
	res, err := e.store.Delete(ctx, img.ID, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	var untagged []string
	for _, r := range res {
		if r.Untagged != "" {
			untagged = append(untagged, r.Untagged)
		}
	}
	if len(untagged) != 3 { // two tags and the digest reference
		t.Errorf("untagged %v", untagged)
	}
	if e.driver.layerCount() != 0 {
		t.Error("layer not removed")
	}
}

func TestPullMultiPlatformIndex(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	host, _ := imagetest.BusyboxImage()
	other, err := imagetest.ImageFromLayers(v1.Config{Cmd: []string{"other"}})
	if err != nil {
		t.Fatal(err)
	}
	otherArch := "s390x"
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch}}},
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	digest, err := e.reg.PushIndex(ctx, "multi:latest", idx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.pull(e.reg.Host + "/multi")
	img, err := e.store.Get(e.reg.Host + "/multi")
	if err != nil {
		t.Fatal(err)
	}
	if img.Config.Config.Cmd[0] != "sh" {
		t.Errorf("picked the wrong platform: cmd %v", img.Config.Config.Cmd)
	}
	if !strings.Contains(strings.Join(statuses(msgs), "\n"), "Digest: "+digest) {
		t.Errorf("Digest line should name the index %s: %q", digest, statuses(msgs))
	}
	err = e.store.Pull(ctx, e.reg.Host+"/multi", nil, "linux/mips64le", nil)
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "no matching manifest for linux/mips64le") {
		t.Errorf("absent platform: %v", err)
	}
}

func TestPullByDigestAndConcurrently(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ref, digest, err := e.reg.PushBusybox(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.store.Pull(ctx, ref, nil, "", nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs := e.layerRecords()
	if len(recs) != 1 || e.driver.layerCount() != 1 {
		t.Fatalf("concurrent pulls: %d records, %d driver layers", len(recs), e.driver.layerCount())
	}
	for _, r := range recs {
		if r.RefCount != 1 {
			t.Errorf("refcount %d", r.RefCount)
		}
	}
	byDigest := strings.TrimSuffix(ref, ":latest") + "@" + digest
	msgs := e.pull(byDigest)
	if msgs[0].ID != digest || msgs[len(msgs)-1].Status != "Status: Image is up to date for "+byDigest {
		t.Errorf("pull by digest: %q", statuses(msgs))
	}
}

func TestImportBusybox(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data, err := imagetest.BusyboxRootfsBytes()
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	var progress bytes.Buffer
	id, err := e.store.Import(ctx, &gz, "imported:v1", []string{
		`CMD ["echo","hi"]`, `ENTRYPOINT /bin/sh -c`, "ENV A=1 B=\"two words\"", "WORKDIR /tmp", "USER nobody",
	}, &progress)
	if err != nil {
		t.Fatal(err)
	}
	msgs := decodeMessages(t, &progress)
	if len(msgs) != 1 || msgs[0].Status != id {
		t.Errorf("import progress %q", statuses(msgs))
	}
	img, err := e.store.Get("imported:v1")
	if err != nil || img.ID != id {
		t.Fatalf("Get: %v", err)
	}
	c := img.Config.Config
	if strings.Join(c.Cmd, " ") != "echo hi" || strings.Join(c.Entrypoint, " ") != "/bin/sh -c /bin/sh -c" ||
		strings.Join(c.Env, ",") != "A=1,B=two words" || c.WorkingDir != "/tmp" || c.User != "nobody" {
		t.Errorf("config %+v", c)
	}
	if img.Architecture != runtime.GOARCH || img.Os != "linux" || len(img.Config.RootFS.DiffIDs) != 1 || img.Created.IsZero() {
		t.Errorf("image %+v", img)
	}
	if img.Config.RootFS.DiffIDs[0].String() != img.ChainIDs[0] {
		t.Error("diff id is not the chain id of a one-layer image")
	}
	if _, err := os.Stat(filepath.Join(e.driver.dir(img.TopLayer), "etc", "passwd")); err != nil {
		t.Errorf("layer content: %v", err)
	}
	if !strings.HasSuffix(e.driver.calls[len(e.driver.calls)-1], mediaTypeLayerGzip) {
		t.Errorf("media type: %v", e.driver.calls)
	}
	if _, err := e.store.Import(ctx, bytes.NewReader(data), "x", []string{"FROM scratch"}, nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad change: %v", err)
	}
	// The same rootfs imported again shares the layer.
	if _, err := e.store.Import(ctx, bytes.NewReader(data), "", nil, nil); err != nil {
		t.Fatal(err)
	}
	if e.driver.layerCount() != 1 {
		t.Errorf("re-import did not share the layer: %d", e.driver.layerCount())
	}
}

func TestNewRemovesUnreferencedLayers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.driver.Create(ctx, "orphan", "", false); err != nil {
		t.Fatal(err)
	}
	e.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket([]byte(BucketLayers)), "sha256:"+strings.Repeat("e", 64),
			layerRecord{ChainID: "sha256:" + strings.Repeat("e", 64), GraphID: "orphan"})
	})
	e.store = e.open()
	if e.driver.layerCount() != 0 || len(e.layerRecords()) != 0 {
		t.Errorf("orphan kept")
	}
}

func TestChanges(t *testing.T) {
	var c v1.Config
	err := applyChanges(&c, []string{"CMD echo hi", "ENV PATH /bin", "ENV PATH=/usr/bin", "EXPOSE 80 53/udp", `VOLUME ["/data"]`, "LABEL a=b", "STOPSIGNAL SIGINT"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Cmd, "|") != "/bin/sh|-c|echo hi" || len(c.Env) != 1 || c.Env[0] != "PATH=/usr/bin" ||
		len(c.ExposedPorts) != 2 || c.Volumes == nil || c.Labels["a"] != "b" || c.StopSignal != "SIGINT" {
		t.Errorf("%+v", c)
	}
}
