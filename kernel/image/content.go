package image

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// contentStore keeps blobs by digest under <root>/content/blobs/sha256/<hex>.
// Writes go to <root>/content/ingest first and are renamed into place only
// after their digest checked out, so a blob path always holds verified bytes.
type contentStore struct {
	root string
}

func newContentStore(root string) (*contentStore, error) {
	c := &contentStore{root: filepath.Join(root, "content")}
	for _, dir := range []string{c.blobDir(), c.ingestDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("content store: %w", err)
		}
	}
	// Partial downloads of a previous run are useless: their digest is unknown.
	entries, _ := os.ReadDir(c.ingestDir())
	for _, e := range entries {
		os.RemoveAll(filepath.Join(c.ingestDir(), e.Name()))
	}
	return c, nil
}

func (c *contentStore) blobDir() string   { return filepath.Join(c.root, "blobs", "sha256") }
func (c *contentStore) ingestDir() string { return filepath.Join(c.root, "ingest") }

// path returns where the blob with digest dgst lives; dgst is checked so
// that a digest from a manifest can never name a path outside the store.
func (c *contentStore) path(dgst string) (string, error) {
	if !digestRE.MatchString(dgst) {
		return "", invalidf("invalid digest %q", dgst)
	}
	return filepath.Join(c.blobDir(), dgst[len("sha256:"):]), nil
}

func (c *contentStore) has(dgst string) bool {
	p, err := c.path(dgst)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// ingest copies r into the store. When expected is set the content must
// hash to it; otherwise the computed digest names the blob. progress, when
// not nil, is called with the running byte count.
func (c *contentStore) ingest(r io.Reader, expected string, progress func(int64)) (dgst string, size int64, err error) {
	if expected != "" && !digestRE.MatchString(expected) {
		return "", 0, invalidf("invalid digest %q", expected)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(c.ingestDir(), hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, fmt.Errorf("ingest: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	if progress != nil {
		w = &countingWriter{w: w, fn: progress}
	}
	size, err = io.Copy(w, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, fmt.Errorf("ingest: %w", err)
	}
	dgst = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if expected != "" && dgst != expected {
		return "", 0, invalidf("blob digest mismatch: expected %s, got %s", expected, dgst)
	}
	final, _ := c.path(dgst)
	if err := os.Rename(tmp, final); err != nil {
		return "", 0, fmt.Errorf("ingest: %w", err)
	}
	return dgst, size, nil
}

func (c *contentStore) remove(dgst string) error {
	p, err := c.path(dgst)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove blob %s: %w", dgst, err)
	}
	return nil
}

// countingWriter reports the running total of bytes written through it.
type countingWriter struct {
	w  io.Writer
	n  int64
	fn func(int64)
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	cw.fn(cw.n)
	return n, err
}
