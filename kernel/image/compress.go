package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// Layer media types this store produces for imported tars; pulled layers
// keep the media type of their manifest.
const (
	mediaTypeLayerTar  = "application/vnd.oci.image.layer.v1.tar"
	mediaTypeLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	mediaTypeLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress sniffs r's first bytes and returns the tar stream inside it,
// with the layer media type that describes r. Sniffing rather than trusting
// a media type catches registries that label gzip as plain tar and back.
func decompress(r io.Reader) (io.ReadCloser, string, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("gzip: %w", err)
		}
		return zr, mediaTypeLayerGzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), mediaTypeLayerZstd, nil
	default:
		return io.NopCloser(br), mediaTypeLayerTar, nil
	}
}

// diffIDOf returns the digest of the uncompressed content of the blob at
// path (the layer's diff id) and the media type matching its compression.
func diffIDOf(path string) (diffID, mediaType string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	rc, mediaType, err := decompress(f)
	if err != nil {
		return "", "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", "", fmt.Errorf("decompress %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), mediaType, nil
}
