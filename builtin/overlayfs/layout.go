package overlayfs

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// layer is what the directory of one layer says about it.
type layer struct {
	id     string
	home   string
	dir    string   // <home>/<id>
	link   string   // short link name, without "l/"
	lowers []string // "l/<link>" of the parents, nearest first; nil for a base layer
	rw     bool     // it has a workdir: an rw layer
}

func (l *layer) diff() string   { return filepath.Join(l.dir, diffName) }
func (l *layer) work() string   { return filepath.Join(l.dir, workName) }
func (l *layer) merged() string { return filepath.Join(l.dir, mergedName) }

// readLayer loads a layer's description; a missing layer is ErrNotFound.
func readLayer(home, id string) (*layer, error) {
	l := &layer{id: id, home: home, dir: filepath.Join(home, id)}
	if _, err := os.Stat(l.diff()); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("overlayfs: layer %q: %w", id, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("overlayfs: layer %q: %w", id, err)
	}
	link, err := os.ReadFile(filepath.Join(l.dir, linkName))
	if err != nil {
		return nil, fmt.Errorf("overlayfs: layer %q: read link: %w", id, err)
	}
	l.link = strings.TrimSpace(string(link))
	lower, err := os.ReadFile(filepath.Join(l.dir, lowerName))
	switch {
	case err == nil:
		if s := strings.TrimSpace(string(lower)); s != "" {
			l.lowers = strings.Split(s, ":")
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, fmt.Errorf("overlayfs: layer %q: read lower: %w", id, err)
	}
	if _, err := os.Stat(l.work()); err == nil {
		l.rw = true
	}
	return l, nil
}

// linkAlphabet is base32 without padding, as Docker's overlay2 uses: the
// names stay short and never contain ':' or ',' (which mount data splits on).
const linkAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// linkLen is the length of a short link name; 26 characters carry 130 bits.
const linkLen = 26

// newLink creates <home>/l/<name> → ../<id>/diff under a fresh random name.
func newLink(home, id string) (string, error) {
	for range 10 {
		buf := make([]byte, linkLen)
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random link name: %w", err)
		}
		for i, b := range buf {
			buf[i] = linkAlphabet[int(b)%len(linkAlphabet)]
		}
		name := string(buf)
		err := os.Symlink(filepath.Join("..", id, diffName), filepath.Join(home, linkDir, name))
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("create short link: %w", err)
		}
	}
	return "", errors.New("create short link: no free name")
}

// findChild returns the id of a layer whose nearest parent has the given
// short link, or "" when there is none.
func findChild(home, link string) (string, error) {
	if link == "" {
		return "", nil
	}
	want := linkDir + "/" + link
	entries, err := os.ReadDir(home)
	if err != nil {
		return "", fmt.Errorf("list layers: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == linkDir || e.Name() == tmpDir {
			continue
		}
		lower, err := os.ReadFile(filepath.Join(home, e.Name(), lowerName))
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimSpace(string(lower)), ":")
		if first == want {
			return e.Name(), nil
		}
	}
	return "", nil
}

// resolveLower turns "l/<link>" into the real diff directory it names.
func resolveLower(home, lower string) (string, error) {
	p, err := filepath.EvalSymlinks(filepath.Join(home, lower))
	if err != nil {
		return "", fmt.Errorf("resolve lower %s: %w", lower, err)
	}
	return p, nil
}
