package image

import (
	"context"

	"github.com/distribution/reference"
	imagetypes "github.com/moby/moby/api/types/image"
	bolt "go.etcd.io/bbolt"
)

// DeleteResponseItem is one line of `docker rmi` output: an untagged
// reference or a deleted image or layer id.
type DeleteResponseItem = imagetypes.DeleteResponse

// InUseFunc tells Delete whether a container uses the image: it returns the
// id of such a container ("" when none) and whether it is running.
type InUseFunc func(imageID string) (containerID string, running bool)

// Delete removes a reference or an image, following dockerd's rules:
//   - by reference: the reference is untagged (and digest references of the
//     same repository when it was that repository's last tag); the image
//     itself goes only with its last reference;
//   - by id: all references go when they all belong to one repository,
//     otherwise force is needed;
//   - an image a container uses is not deleted: without force that is an
//     errdefs.ErrConflict, with force its references are removed and the
//     image stays (a running container's image cannot be deleted by id even
//     with force).
//
// Deleting the image releases its layers; those no other image uses are
// removed from the graph driver (reported as Deleted chain ids, as dockerd
// reports layers) and blobs no image names are removed. inUse may be nil.
func (s *Store) Delete(ctx context.Context, refOrID string, force bool, inUse InUseFunc) ([]DeleteResponseItem, error) {
	if inUse == nil {
		inUse = func(string) (string, bool) { return "", false }
	}
	s.layerMu.Lock()
	defer s.layerMu.Unlock()

	var (
		records   []DeleteResponseItem
		release   []string
		blobs     []string
		imageGone bool
		deletedID string
	)
	err := s.db.Update(func(tx *bolt.Tx) error {
		records, release, blobs, imageGone, deletedID = nil, nil, nil, false, ""
		refsB := tx.Bucket([]byte(BucketRefs))
		id, named, err := resolve(tx, refOrID)
		if err != nil {
			return err
		}
		refs := refsOf(tx, id)
		untag := func(r reference.Named) error {
			records = append(records, DeleteResponseItem{Untagged: FamiliarString(r)})
			return refsB.Delete([]byte(r.String()))
		}
		ctr, running := inUse(id)
		if named != nil {
			if !force && ctr != "" && isSingleReference(refs) {
				return conflictf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", refOrID, shortID(ctr), shortID(id))
			}
			if err := untag(named); err != nil {
				return err
			}
			refs = refsOf(tx, id)
			if _, canonical := named.(reference.Canonical); !canonical && !hasTagIn(refs, named.Name()) {
				// The repository's last tag went: its digest references
				// would only keep the image alive unnamed.
				for _, r := range refs {
					if _, ok := r.(reference.Canonical); ok && r.Name() == named.Name() {
						if err := untag(r); err != nil {
							return err
						}
					}
				}
				refs = refsOf(tx, id)
			}
			if len(refs) > 0 || ctr != "" {
				// Still named, or kept (untagged) for the container using it.
				return nil
			}
		} else {
			if ctr != "" && running {
				return conflictf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", shortID(id), shortID(ctr))
			}
			if len(refs) > 1 && !isSingleReference(refs) && !force {
				return conflictf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(id))
			}
			if ctr != "" && !force {
				return conflictf("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", shortID(id), shortID(ctr))
			}
			for _, r := range refs {
				if err := untag(r); err != nil {
					return err
				}
			}
			if ctr != "" {
				return nil
			}
		}
		rec, err := getImageRecord(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket([]byte(BucketImages)).Delete([]byte(id)); err != nil {
			return err
		}
		layers := tx.Bucket([]byte(BucketLayers))
		for _, chainID := range rec.ChainIDs {
			l, err := getLayerRecord(tx, chainID)
			if err != nil {
				return err
			}
			if l == nil {
				continue
			}
			if l.RefCount > 0 {
				l.RefCount--
			}
			if l.RefCount == 0 {
				release = append(release, chainID)
			}
			if err := putJSON(layers, chainID, l); err != nil {
				return err
			}
		}
		blobs = unusedBlobs(tx, rec.Blobs)
		imageGone, deletedID = true, id
		return nil
	})
	if err != nil {
		return nil, err
	}
	if imageGone {
		records = append(records, DeleteResponseItem{Deleted: deletedID})
		// release lists the chain bottom to top; removeLayers walks it top down.
		for _, chainID := range s.removeLayers(ctx, release) {
			if chainID != deletedID {
				records = append(records, DeleteResponseItem{Deleted: chainID})
			}
		}
		for _, b := range blobs {
			s.content.remove(b)
		}
	}
	return records, nil
}

// unusedBlobs returns those of blobs that no image in tx names.
func unusedBlobs(tx *bolt.Tx, blobs []string) []string {
	used := map[string]bool{}
	tx.Bucket([]byte(BucketImages)).ForEach(func(k, _ []byte) error {
		if rec, err := getImageRecord(tx, string(k)); err == nil {
			for _, b := range rec.Blobs {
				used[b] = true
			}
		}
		return nil
	})
	var out []string
	for _, b := range blobs {
		if !used[b] {
			out = append(out, b)
			used[b] = true
		}
	}
	return out
}

func hasTagIn(refs []reference.Named, repo string) bool {
	for _, r := range refs {
		if _, canonical := r.(reference.Canonical); !canonical && r.Name() == repo {
			return true
		}
	}
	return false
}

// isSingleReference reports whether refs name one repository with at most
// one tag (any number of digests), dockerd's condition for removing all
// references of an image deleted by id without force.
func isSingleReference(refs []reference.Named) bool {
	if len(refs) <= 1 {
		return len(refs) == 1
	}
	repos := map[string]bool{}
	tags := 0
	for _, r := range refs {
		repos[r.Name()] = true
		if _, canonical := r.(reference.Canonical); !canonical {
			tags++
		}
	}
	return len(repos) == 1 && tags <= 1
}
