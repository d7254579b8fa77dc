package imagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Registry is an in-memory OCI registry (go-containerregistry's
// pkg/registry) served over plain HTTP on 127.0.0.1.
type Registry struct {
	server *httptest.Server
	// Host is "127.0.0.1:<port>", the registry part of references.
	Host string
}

// StartRegistry starts a registry; Close stops it.
func StartRegistry() *Registry {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	return &Registry{server: srv, Host: strings.TrimPrefix(srv.URL, "http://")}
}

// Close stops the registry.
func (r *Registry) Close() { r.server.Close() }

// Push writes img to repoTag ("busybox:latest" or "busybox") on this
// registry and returns its manifest digest.
func (r *Registry) Push(ctx context.Context, repoTag string, img v1.Image) (string, error) {
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	return d.String(), err
}

// PushIndex writes a multi-platform index to repoTag and returns its digest.
func (r *Registry) PushIndex(ctx context.Context, repoTag string, idx v1.ImageIndex) (string, error) {
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := idx.Digest()
	return d.String(), err
}

// PushBusybox pushes BusyboxImage to repoTag and returns the reference to
// pull it by ("127.0.0.1:<port>/busybox:latest") and its manifest digest.
func (r *Registry) PushBusybox(ctx context.Context, repoTag string) (ref, digest string, err error) {
	img, err := BusyboxImage()
	if err != nil {
		return "", "", err
	}
	digest, err = r.Push(ctx, repoTag, img)
	if err != nil {
		return "", "", err
	}
	if !strings.Contains(repoTag, ":") {
		repoTag += ":latest"
	}
	return r.Host + "/" + repoTag, digest, nil
}

// BusyboxImage is a one-layer image of BusyboxRootfs (gzip compressed)
// for this host's platform, with Cmd ["sh"] and the usual PATH.
func BusyboxImage() (v1.Image, error) {
	data, err := BusyboxRootfsBytes()
	if err != nil {
		return nil, err
	}
	layer, err := LayerFromTar(data)
	if err != nil {
		return nil, err
	}
	return ImageFromLayers(v1.Config{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}, layer)
}

// LayerFromTar makes a gzip-compressed layer from an uncompressed tar.
func LayerFromTar(data []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// ImageFromLayers stacks layers (bottom first) into an image for this
// host's platform with the given runtime config.
func ImageFromLayers(cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: modTime}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}
