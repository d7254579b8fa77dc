// Package base is the service every Berth plugin kind embeds.
//
// Lifecycle: the kernel starts the plugin process, completes the go-plugin
// handshake (which carries the protocol version), then calls Info to learn
// name, kind, version and capabilities, then Configure exactly once with the
// plugin's settings (directories, sockets, options). Only after Configure
// returns does the kernel use the kind's own calls. Health is polled by the
// supervisor; a plugin reports a broken backend there rather than exiting.
// After a restart of the plugin process the sequence starts again from Info.
package base

import "context"

// Kind names a plugin kind with its version, as used in manifests and in
// go-plugin plugin sets.
type Kind string

// The seven plugin kinds.
const (
	KindRuntime     Kind = "berth.runtime.v1"
	KindGraphDriver Kind = "berth.graphdriver.v1"
	KindNetwork     Kind = "berth.network.v1"
	KindIPAM        Kind = "berth.ipam.v1"
	KindVolume      Kind = "berth.volume.v1"
	KindLog         Kind = "berth.log.v1"
	KindAuthz       Kind = "berth.authz.v1"
)

// Info describes a plugin.
type Info struct {
	Name         string
	Kind         Kind
	Version      string
	Capabilities []string
}

// Plugin is the base every kind's interface embeds.
type Plugin interface {
	// Info describes the plugin; it must answer before Configure.
	Info(ctx context.Context) (Info, error)
	// Configure passes the plugin its settings. Keys are kind-specific and
	// documented by each plugin; unknown keys are an ErrInvalidArgument.
	Configure(ctx context.Context, config map[string]string) error
	// Health returns nil while the plugin and its backend can serve.
	Health(ctx context.Context) error
}
