package graphdriver_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/graphdriver"
)

// dial serves impl over go-plugin's in-memory gRPC connection and returns
// the client side, as the kernel would get it from Dispense.
func dial(t *testing.T, impl graphdriver.Driver) graphdriver.Driver {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindGraphDriver): &graphdriver.GRPCPlugin{Impl: impl},
	})
	t.Cleanup(func() {
		client.Close()
		server.Stop()
	})
	raw, err := client.Dispense(string(base.KindGraphDriver))
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	d, ok := raw.(graphdriver.Driver)
	if !ok {
		t.Fatalf("dispensed %T, not a graphdriver.Driver", raw)
	}
	return d
}

func TestRoundTripCarriesArgumentsAndResults(t *testing.T) {
	ctx := context.Background()
	var got []string
	record := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	fake := &graphdriver.Fake{
		InfoFunc: func(context.Context) (base.Info, error) {
			return base.Info{Name: "fake", Kind: base.KindGraphDriver, Version: "0.1"}, nil
		},
		ConfigureFunc: func(_ context.Context, c map[string]string) error { record("Configure %v", c); return nil },
		HealthFunc:    func(context.Context) error { record("Health"); return nil },
		CreateFunc: func(_ context.Context, id, parent string, rw bool) error {
			record("Create %s %s %v", id, parent, rw)
			return nil
		},
		ApplyDiffFunc: func(_ context.Context, id, blob, mt string) (int64, error) {
			record("ApplyDiff %s %s %s", id, blob, mt)
			return 1 << 40, nil
		},
		MountFunc: func(_ context.Context, id, holder string) (string, error) {
			record("Mount %s %s", id, holder)
			return "/mnt/" + id, nil
		},
		UnmountFunc: func(_ context.Context, id, holder string) error { record("Unmount %s %s", id, holder); return nil },
		RemoveFunc:  func(_ context.Context, id string) error { record("Remove %s", id); return nil },
		DiffFunc: func(_ context.Context, id string) (io.ReadCloser, error) {
			record("Diff %s", id)
			return io.NopCloser(bytes.NewReader([]byte("tar bytes"))), nil
		},
		ChangesFunc: func(_ context.Context, id string) ([]graphdriver.Change, error) {
			record("Changes %s", id)
			return []graphdriver.Change{{Path: "/a", Kind: graphdriver.ChangeAdd}, {Path: "/b", Kind: graphdriver.ChangeDelete},
				{Path: "/c", Kind: graphdriver.ChangeModify}}, nil
		},
		UsageFunc: func(_ context.Context, id string) (graphdriver.Usage, error) {
			record("Usage %s", id)
			return graphdriver.Usage{Size: 123, Inodes: 4}, nil
		},
		StatusFunc: func(context.Context) ([][2]string, error) {
			record("Status")
			return [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}, nil
		},
	}
	d := dial(t, fake)

	if info, err := d.Info(ctx); err != nil || info.Name != "fake" || info.Kind != base.KindGraphDriver || info.Version != "0.1" {
		t.Errorf("Info = %+v, %v", info, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.Configure(ctx, map[string]string{"root": "/var/lib/berth"}))
	must(d.Health(ctx))
	must(d.Create(ctx, "l2", "l1", true))
	if n, err := d.ApplyDiff(ctx, "l2", "/blobs/sha256/ab", "application/vnd.oci.image.layer.v1.tar+gzip"); err != nil || n != 1<<40 {
		t.Errorf("ApplyDiff = %d, %v", n, err)
	}
	if p, err := d.Mount(ctx, "l2", "c1"); err != nil || p != "/mnt/l2" {
		t.Errorf("Mount = %q, %v", p, err)
	}
	must(d.Unmount(ctx, "l2", "c1"))
	must(d.Remove(ctx, "l2"))
	rc, err := d.Diff(ctx, "l2")
	must(err)
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != "tar bytes" {
		t.Errorf("Diff = %q, %v", data, err)
	}
	changes, err := d.Changes(ctx, "l2")
	wantChanges := []graphdriver.Change{{Path: "/a", Kind: graphdriver.ChangeAdd}, {Path: "/b", Kind: graphdriver.ChangeDelete},
		{Path: "/c", Kind: graphdriver.ChangeModify}}
	if err != nil || !reflect.DeepEqual(changes, wantChanges) {
		t.Errorf("Changes = %+v, %v", changes, err)
	}
	if u, err := d.Usage(ctx, "l2"); err != nil || u != (graphdriver.Usage{Size: 123, Inodes: 4}) {
		t.Errorf("Usage = %+v, %v", u, err)
	}
	if st, err := d.Status(ctx); err != nil || !reflect.DeepEqual(st, [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}) {
		t.Errorf("Status = %v, %v", st, err)
	}
	want := []string{
		"Configure map[root:/var/lib/berth]",
		"Health",
		"Create l2 l1 true",
		"ApplyDiff l2 /blobs/sha256/ab application/vnd.oci.image.layer.v1.tar+gzip",
		"Mount l2 c1",
		"Unmount l2 c1",
		"Remove l2",
		"Diff l2",
		"Changes l2",
		"Usage l2",
		"Status",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls seen by the plugin:\n got %q\nwant %q", got, want)
	}
}

func TestRoundTripErrorsKeepClass(t *testing.T) {
	ctx := context.Background()
	for _, class := range []error{errdefs.ErrNotFound, errdefs.ErrConflict, errdefs.ErrInvalidArgument,
		errdefs.ErrUnavailable, errdefs.ErrUnimplemented, errdefs.ErrDeadlineExceeded} {
		msg := fmt.Errorf("layer l1: %w", class)
		d := dial(t, &graphdriver.Fake{
			MountFunc:  func(context.Context, string, string) (string, error) { return "", msg },
			RemoveFunc: func(context.Context, string) error { return msg },
			DiffFunc:   func(context.Context, string) (io.ReadCloser, error) { return nil, msg },
			HealthFunc: func(context.Context) error { return msg },
		})
		if _, err := d.Mount(ctx, "l1", "c1"); !errors.Is(err, class) || err.Error() != msg.Error() {
			t.Errorf("Mount: got %v, want class %v and message %q", err, class, msg)
		}
		if err := d.Remove(ctx, "l1"); !errors.Is(err, class) {
			t.Errorf("Remove: got %v, want %v", err, class)
		}
		if rc, err := d.Diff(ctx, "l1"); !errors.Is(err, class) || rc != nil {
			t.Errorf("Diff: got %v, %v, want %v", rc, err, class)
		}
		if err := d.Health(ctx); !errors.Is(err, class) {
			t.Errorf("Health: got %v, want %v", err, class)
		}
	}
}

func TestDiffStreamsLargeDataIntact(t *testing.T) {
	const size = 9<<20 + 12345 // several MiB, not a multiple of the chunk size
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	d := dial(t, &graphdriver.Fake{DiffFunc: func(context.Context, string) (io.ReadCloser, error) {
		// iotest-style small reads on the plugin side must not matter.
		return io.NopCloser(io.LimitReader(bytes.NewReader(data), size)), nil
	}})
	rc, err := d.Diff(context.Background(), "l1")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatal(err)
	}
	if n != size || !bytes.Equal(h.Sum(nil), sha256Sum(data)) {
		t.Errorf("got %d bytes with another digest, want %d intact bytes", n, size)
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// endlessReader produces data until it is closed and records the close.
type endlessReader struct{ closed chan struct{} }

func (r *endlessReader) Read(p []byte) (int, error) {
	select {
	case <-r.closed:
		return 0, errors.New("read after close")
	default:
	}
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func (r *endlessReader) Close() error { close(r.closed); return nil }

func TestDiffCloseCancelsStream(t *testing.T) {
	src := &endlessReader{closed: make(chan struct{})}
	d := dial(t, &graphdriver.Fake{DiffFunc: func(context.Context, string) (io.ReadCloser, error) { return src, nil }})
	rc, err := d.Diff(context.Background(), "l1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-src.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("closing the client's reader did not close the plugin's diff")
	}
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("reading a closed diff succeeded")
	}
}
