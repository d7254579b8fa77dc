// Package container holds the kernel's container model: the record persisted
// in the store, its state machine, the human status text of `docker ps`,
// identifiers and names, the per-container serial operation queue, and the
// in-memory registry with its waiters.
//
// Concurrency model: a *Container held by the Registry is an immutable
// snapshot. An operation (run on the container's Queue, so operations on one
// container never overlap) takes a Clone, applies a transition to the clone,
// persists it, then hands it to Registry.Update, which swaps the snapshot and
// releases waiters. Readers (ps, inspect) therefore never need a lock on the
// container itself. Config and HostConfig are shared between clones: they are
// replaced, never modified in place.
package container

import (
	"time"

	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// StdioPaths are the FIFO paths of a container's init process, as created by
// kernel/stdio and handed to the runtime.
type StdioPaths struct {
	Stdin  string `json:",omitempty"`
	Stdout string `json:",omitempty"`
	Stderr string `json:",omitempty"`
}

// Container is the persisted record of one container: everything `docker
// inspect` shows plus what the kernel needs to restore and clean it up.
type Container struct {
	// ID is 64 lowercase hex characters.
	ID string
	// Name carries the leading '/' as Docker's API shows it ("/web").
	Name    string
	Created time.Time
	// Path and Args are the resolved command (entrypoint + cmd).
	Path string
	Args []string

	Config     *mobycontainer.Config     `json:",omitempty"`
	HostConfig *mobycontainer.HostConfig `json:",omitempty"`
	// Image is the image id ("sha256:<hex>"); ImageName is what the user asked for.
	Image     string
	ImageName string `json:",omitempty"`
	Platform  string `json:",omitempty"`

	State        State
	RestartCount int
	// HasBeenStartedBefore and HasBeenManuallyStopped feed the restart policy:
	// a container stopped by the user is not restarted at daemon start under
	// "unless-stopped".
	HasBeenStartedBefore   bool `json:",omitempty"`
	HasBeenManuallyStopped bool `json:",omitempty"`

	// Runtime names the runtime plugin that runs the container.
	Runtime string `json:",omitempty"`
	// Driver is the graph driver plugin name; GraphID the rw layer's id in it.
	Driver  string
	GraphID string `json:",omitempty"`
	// RootfsPath is the graph driver's mount point while RootfsMounted holds.
	RootfsPath    string `json:",omitempty"`
	RootfsMounted bool   `json:",omitempty"`

	Stdio          StdioPaths `json:",omitempty"`
	NetNSPath      string     `json:",omitempty"`
	LogPath        string     `json:",omitempty"`
	ResolvConfPath string     `json:",omitempty"`
	HostnamePath   string     `json:",omitempty"`
	HostsPath      string     `json:",omitempty"`

	MountPoints     []mobycontainer.MountPoint     `json:",omitempty"`
	NetworkSettings *mobycontainer.NetworkSettings `json:",omitempty"`
}

// Clone returns a copy that can be changed without affecting c. Slices owned
// by the record are copied; Config, HostConfig and NetworkSettings are shared
// and must be replaced rather than modified.
func (c *Container) Clone() *Container {
	n := *c
	n.Args = append([]string(nil), c.Args...)
	n.MountPoints = append([]mobycontainer.MountPoint(nil), c.MountPoints...)
	return &n
}

// ShortName returns the name without its leading '/'.
func (c *Container) ShortName() string {
	return NormalizeName(c.Name)
}

// Labels returns the container's labels (nil when it has no Config).
func (c *Container) Labels() map[string]string {
	if c.Config == nil {
		return nil
	}
	return c.Config.Labels
}

// EventAttributes returns the Actor attributes of a container event as
// dockerd sends them: the labels, plus "image" and "name".
func (c *Container) EventAttributes(extra map[string]string) map[string]string {
	attrs := make(map[string]string, len(c.Labels())+len(extra)+2)
	for k, v := range c.Labels() {
		attrs[k] = v
	}
	attrs["image"] = c.ImageName
	if attrs["image"] == "" {
		attrs["image"] = c.Image
	}
	attrs["name"] = c.ShortName()
	for k, v := range extra {
		attrs[k] = v
	}
	return attrs
}

// Event returns a container event for c stamped with the current time, with
// dockerd's attributes (labels, image, name) plus extra ones such as
// exitCode or signal.
func (c *Container) Event(action events.Action, extra map[string]string) events.Message {
	now := time.Now()
	return events.Message{
		Type:     events.ContainerEventType,
		Action:   action,
		Actor:    events.Actor{ID: c.ID, Attributes: c.EventAttributes(extra)},
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	}
}
