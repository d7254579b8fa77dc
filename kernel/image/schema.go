package image

import (
	"encoding/json"
	"time"
)

// The image store keeps three top-level buckets in the kernel's bbolt file.
// The store creates them in New and is their only writer.
//
//	images/                       one record per image
//	  "sha256:<hex>" → imageRecord (JSON)   key = image ID = digest of the config JSON
//	refs/                         one entry per reference (tags and digests)
//	  "docker.io/library/busybox:latest"          → "sha256:<image hex>"
//	  "docker.io/library/busybox@sha256:<manifest>" → "sha256:<image hex>"
//	layers/                       one record per unpacked layer
//	  "sha256:<chain id>" → layerRecord (JSON)
//	                          {graph id, diff id, parent chain id, size, refcount}
//
// Invariants:
//   - every image's ChainIDs exist in layers/; a layer's RefCount is the
//     number of images whose ChainIDs contain it, so a parent's count is
//     never smaller than its child's;
//   - a layer with RefCount 0 exists only while a pull or import that
//     created it is running; New removes leftovers of a crash;
//   - every blob named by an image's Blobs is in the content store
//     (<root>/content/blobs/sha256/<hex>); a blob no image names is removed
//     with the last image naming it.
//
// The layer is shared by chain id (the identity of a layer together with all
// its parents), as dockerd's layer store does, so two images with the same
// base reuse the same graph driver layer.
const (
	BucketImages = "images"
	BucketRefs   = "refs"
	BucketLayers = "layers"
)

// imageRecord is the value stored under images/<id>.
type imageRecord struct {
	ID string `json:"id"`
	// Config is the image config exactly as pulled or built: its digest is ID.
	Config json.RawMessage `json:"config"`
	// ChainIDs lists the image's layers bottom to top.
	ChainIDs []string `json:"chainIds"`
	// Blobs lists the content-store digests this image holds: its layer blobs
	// and its config.
	Blobs []string `json:"blobs"`
	// ManifestDigest is the digest the image was pulled by (the index digest
	// for a multi-platform image); empty for imported images.
	ManifestDigest string `json:"manifestDigest,omitempty"`
	// Size is the sum of the unpacked sizes of the image's layers.
	Size int64 `json:"size"`
	// Recorded is when this store recorded the image.
	Recorded time.Time `json:"recorded"`
}

// layerRecord is the value stored under layers/<chain id>.
type layerRecord struct {
	ChainID string `json:"chainId"`
	// GraphID is the layer's id in the graph driver.
	GraphID string `json:"graphId"`
	DiffID  string `json:"diffId"`
	// Parent is the parent's chain id, empty for a base layer.
	Parent string `json:"parent,omitempty"`
	// Size is the unpacked size reported by the graph driver's ApplyDiff.
	Size     int64 `json:"size"`
	RefCount int   `json:"refCount"`
}
