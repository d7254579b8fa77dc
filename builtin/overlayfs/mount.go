package overlayfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Mount mounts the layer and its parents on <home>/<id>/merged for holder
// and returns that path. A holder that already holds the layer adds no
// reference. The first holder makes the mount; later ones share it.
func (d *Driver) Mount(ctx context.Context, id, holder string) (string, error) {
	l, holders, unlock, err := d.heldLayer(id)
	if err != nil {
		return "", err
	}
	defer unlock()
	mounted, err := isMounted(l.merged())
	if err != nil {
		return "", fmt.Errorf("overlayfs: mount %q: %w", id, err)
	}
	_, held := holders[holder]
	if held && mounted {
		return l.merged(), nil
	}
	fresh := false
	if !mounted {
		if err := d.mountLayer(l); err != nil {
			return "", fmt.Errorf("overlayfs: mount %q: %w", id, err)
		}
		fresh = true
	}
	next := cloneSet(holders)
	next[holder] = struct{}{}
	if err := d.storeHolders(l, next); err != nil {
		if fresh && len(holders) == 0 {
			unmountAll(l.merged())
		}
		return "", fmt.Errorf("overlayfs: mount %q: %w", id, err)
	}
	return l.merged(), nil
}

// Unmount drops holder's reference; the last reference unmounts. Dropping a
// reference that holder does not have is not an error.
func (d *Driver) Unmount(ctx context.Context, id, holder string) error {
	l, holders, unlock, err := d.heldLayer(id)
	if err != nil {
		return err
	}
	defer unlock()
	if _, held := holders[holder]; !held {
		return nil
	}
	next := cloneSet(holders)
	delete(next, holder)
	if len(next) == 0 {
		// Unmount before forgetting the holder: if unmounting fails the
		// holder can retry.
		if err := unmountAll(l.merged()); err != nil {
			return fmt.Errorf("overlayfs: unmount %q: %w", id, err)
		}
	}
	if err := d.storeHolders(l, next); err != nil {
		return fmt.Errorf("overlayfs: unmount %q: %w", id, err)
	}
	return nil
}

// mountLayer mounts l on its merged directory: a bind mount for a base
// layer, otherwise an overlay whose upperdir is the layer's diff when it is
// rw, or a read-only overlay of its diff above its parents.
func (d *Driver) mountLayer(l *layer) error {
	if err := os.MkdirAll(l.merged(), 0o700); err != nil {
		return err
	}
	if len(l.lowers) == 0 {
		return bindMount(l.diff(), l.merged(), l.rw)
	}
	d.mu.Lock()
	indexOff := d.indexOff
	d.mu.Unlock()
	m := overlayMount{home: l.home, indexOff: indexOff}
	if l.rw {
		m.lowers = l.lowers
		m.upper = filepath.Join(l.id, diffName)
		m.work = filepath.Join(l.id, workName)
	} else {
		m.lowers = append([]string{linkDir + "/" + l.link}, l.lowers...)
	}
	return m.mountAt(l.merged())
}

// loadHolders returns the layer's holders, reading <id>/holders the first
// time after a (re)start. Holders recorded on disk are kept only while the
// merged directory is really mounted: a mount that is gone (a reboot, an
// outside umount) has no users left, and the kernel re-declares the holders
// it knows by calling Mount again. The caller holds the layer's lock.
// heldLayer opens layer id and its holders under the layer's lock, for the
// calls that change who holds it (Mount, Unmount, Remove). The caller runs
// unlock when done; on error nothing is held.
func (d *Driver) heldLayer(id string) (l *layer, holders map[string]struct{}, unlock func(), err error) {
	home, err := d.root()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkID(id); err != nil {
		return nil, nil, nil, err
	}
	release := d.lock(id)
	defer func() {
		if err != nil {
			release()
		}
	}()
	if l, err = readLayer(home, id); err != nil {
		return nil, nil, nil, err
	}
	if holders, err = d.loadHolders(l); err != nil {
		return nil, nil, nil, err
	}
	return l, holders, release, nil
}

func (d *Driver) loadHolders(l *layer) (map[string]struct{}, error) {
	d.mu.Lock()
	set, ok := d.holders[l.id]
	d.mu.Unlock()
	if ok {
		return set, nil
	}
	set = map[string]struct{}{}
	data, err := os.ReadFile(filepath.Join(l.dir, holdersName))
	switch {
	case err == nil:
		var list []string
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("overlayfs: layer %q: corrupt holders file: %w", l.id, err)
		}
		mounted, err := isMounted(l.merged())
		if err != nil {
			return nil, fmt.Errorf("overlayfs: layer %q: %w", l.id, err)
		}
		if mounted {
			for _, h := range list {
				set[h] = struct{}{}
			}
		} else if err := os.Remove(filepath.Join(l.dir, holdersName)); err != nil {
			return nil, fmt.Errorf("overlayfs: layer %q: drop stale holders: %w", l.id, err)
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, fmt.Errorf("overlayfs: layer %q: read holders: %w", l.id, err)
	}
	d.mu.Lock()
	d.holders[l.id] = set
	d.mu.Unlock()
	return set, nil
}

// storeHolders writes the holder set to disk (atomically, by rename) and
// then to memory; an empty set removes the file.
func (d *Driver) storeHolders(l *layer, set map[string]struct{}) error {
	path := filepath.Join(l.dir, holdersName)
	if len(set) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove holders file: %w", err)
		}
	} else {
		data, err := json.Marshal(sortedKeys(set))
		if err != nil {
			return err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return fmt.Errorf("write holders file: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write holders file: %w", err)
		}
	}
	d.mu.Lock()
	d.holders[l.id] = set
	d.mu.Unlock()
	return nil
}

func cloneSet(s map[string]struct{}) map[string]struct{} {
	c := make(map[string]struct{}, len(s)+1)
	for k := range s {
		c[k] = struct{}{}
	}
	return c
}

// Holders returns the holders of a layer's mount, sorted; it is for
// diagnostics and tests.
func (d *Driver) Holders(id string) ([]string, error) {
	home, err := d.root()
	if err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	unlock := d.lock(id)
	defer unlock()
	l, err := readLayer(home, id)
	if err != nil {
		return nil, err
	}
	set, err := d.loadHolders(l)
	if err != nil {
		return nil, err
	}
	return sortedKeys(set), nil
}
