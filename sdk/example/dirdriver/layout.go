package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// The driver's home holds one directory per layer:
//
//	<home>/<id>/root     the layer's full tree: a copy of the parent's root plus this layer's changes
//	<home>/<id>/mnt      where Mount bind-mounts root
//	<home>/<id>/holders  JSON list of the holders of the mount (absent or null: none)
//	<home>/<id>/parent   the parent's id ("" for a base layer); written last, so it marks a complete layer
//
// Because the parent file is written last, a Create that crashed half-way
// leaves a directory without it, which counts as no layer and is cleared by
// the next Create of that id.
const (
	rootDir     = "root"
	mntDir      = "mnt"
	holdersFile = "holders"
	parentFile  = "parent"
)

// check refuses calls before Configure and ids that are not one plain path
// element: an id is joined to home, and "../x" must not escape it.
func (d *Driver) check(id string) error {
	if d.home == "" {
		return fmt.Errorf("dirdriver: not configured: %w", errdefs.ErrUnavailable)
	}
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, `/\`) {
		return fmt.Errorf("dirdriver: bad layer id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

// parentOf returns id's parent, and ErrNotFound for a layer that does not
// exist (or whose Create never finished).
func (d *Driver) parentOf(id string) (string, error) {
	if err := d.check(id); err != nil {
		return "", err
	}
	b, err := os.ReadFile(d.path(id, parentFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("dirdriver: layer %s: %w", id, errdefs.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("dirdriver: layer %s: %w", id, err)
	}
	return string(b), nil
}

// holders reads the holders file of id; no file means no holders.
func (d *Driver) holders(id string) ([]string, error) {
	var holders []string
	b, err := os.ReadFile(d.path(id, holdersFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err == nil {
		err = json.Unmarshal(b, &holders)
	}
	if err != nil {
		return nil, fmt.Errorf("dirdriver: holders of %s: %w", id, err)
	}
	return holders, nil
}

// setHolders replaces the holders file of id.
func (d *Driver) setHolders(id string, holders []string) error {
	b, err := json.Marshal(holders)
	if err != nil {
		return err
	}
	return writeFile(d.path(id, holdersFile), b)
}

// path joins elem to the directory of layer id.
func (d *Driver) path(id string, elem ...string) string {
	return filepath.Join(append([]string{d.home, id}, elem...)...)
}

// writeFile replaces name atomically (write aside, then rename), so a crash
// leaves either the old content or the new, never half a file.
func writeFile(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("dirdriver: write %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("dirdriver: write %s: %w", name, err)
	}
	return nil
}
