// Package store is the kernel's persistent state: one bbolt file,
// <root>/berth.db, shared by the kernel's packages. It owns the buckets
// drawn below and lets other packages (kernel/image) bring their own buckets
// with their own versioned migrations through Schema.
//
// Every write goes through bbolt's Batch, so concurrent transitions of
// different containers share one fsync; a container record and the event
// that announces its change are written in the same transaction.
package store

// The kernel's buckets, schema version 2:
//
//	meta/
//	    version                 → uint64 BE   schema version of the kernel's buckets
//	    version.<schema>        → uint64 BE   version of a registered Schema (e.g. version.image)
//	containers/
//	    <id 64 hex>             → JSON container.Container
//	names/
//	    <name without '/'>      → <id>        unique name index
//	events/                     (bucket sequence = last event number)
//	    <seq uint64 BE>         → JSON events.Message, the last EventLimit kept
//	plugins/
//	    <plugin name>           → JSON plugin record (opaque to the store)
//
// History: version 1 had meta, containers, events and plugins; version 2
// added the names index, built from the records' Name fields.
var (
	bucketMeta       = []byte("meta")
	bucketContainers = []byte("containers")
	bucketNames      = []byte("names")
	bucketEvents     = []byte("events")
	bucketPlugins    = []byte("plugins")

	keyVersion = []byte("version")
)

// kernelSchemaName names the kernel's own schema; its version lives under
// meta/version rather than meta/version.<name>.
const kernelSchemaName = "kernel"
