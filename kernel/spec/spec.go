// Package spec builds the OCI runtime spec of a container from its image
// config and its create request, the way dockerd does.
//
// Build is a pure function of its Input: the only thing it reads is the
// container's own /etc/passwd and /etc/group, resolved inside the rootfs
// (os.Root, so a symlink cannot lead outside it) and accepted only when they
// are regular files. Everything the kernel learns elsewhere (the rootfs mount
// point, the netns path, extra mounts for volumes and /etc/hosts, host devices
// for privileged containers) comes in through Input, which keeps golden tests
// byte-for-byte stable.
//
// No seccomp profile is set yet: containers run unconfined by seccomp until a
// later issue adds Docker's default profile. AppArmor and SELinux labels are
// not set either.
package spec

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// ImageConfig is the part of an image's config that shapes a container. The
// image package converts its own config type into this one.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	StopSignal string
	Labels     map[string]string
}

// Input is everything Build needs.
type Input struct {
	// ID is the container's full id; its first 12 characters are the default
	// hostname and its whole value names the cgroup.
	ID string
	// Image is the image's config; zero for a container without an image config.
	Image ImageConfig
	// Config and HostConfig are the create request as the API received it
	// (nil means empty). Build merges Config with Image itself (MergeConfig), so
	// passing an already merged Config is harmless.
	Config     *container.Config
	HostConfig *container.HostConfig
	// Rootfs is the absolute path of the mounted root filesystem (root.path).
	Rootfs string
	// RootfsFiles, when set, is read for etc/passwd and etc/group instead of
	// Rootfs (tests use it). It must not resolve symlinks outside itself.
	RootfsFiles fs.FS
	// NetnsPath is the network namespace to join; empty means a new, empty
	// one. Ignored when HostConfig.NetworkMode is "host".
	NetnsPath string
	// Mounts are appended after the defaults (volumes, binds, /etc/hosts,
	// /etc/resolv.conf, /etc/hostname); one with the destination of a default
	// mount replaces that default.
	Mounts []specs.Mount
	// HostDevices are the host's devices given to a privileged container
	// (dockerd adds every device under /dev); ignored when not privileged.
	HostDevices []specs.LinuxDevice
}

// CgroupsPath returns the cgroupfs path of a container: the same the runtime
// reports and the stats code reads.
func CgroupsPath(id string) string {
	return "/berth/" + id
}

// Build returns the OCI runtime spec for in. Errors wrap
// errdefs.ErrInvalidArgument when the request is wrong (no command, unknown
// user or capability, relative working directory).
func Build(in Input) (*specs.Spec, error) {
	if in.ID == "" {
		return nil, fmt.Errorf("build spec: empty container id: %w", errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(in.Rootfs) {
		return nil, fmt.Errorf("build spec: rootfs path %q is not absolute: %w", in.Rootfs, errdefs.ErrInvalidArgument)
	}
	var req container.Config
	if in.Config != nil {
		req = *in.Config
	}
	var hc container.HostConfig
	if in.HostConfig != nil {
		hc = *in.HostConfig
	}
	cfg := MergeConfig(in.Image, req)
	if cfg.Hostname == "" {
		cfg.Hostname = shortID(in.ID)
	}

	args := Args(cfg.Entrypoint, cfg.Cmd)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified: %w", errdefs.ErrInvalidArgument)
	}
	cwd := "/"
	if cfg.WorkingDir != "" {
		if !path.IsAbs(cfg.WorkingDir) {
			return nil, fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path: %w", cfg.WorkingDir, errdefs.ErrInvalidArgument)
		}
		cwd = path.Clean(cfg.WorkingDir)
	}

	files := in.RootfsFiles
	if files == nil {
		root, err := os.OpenRoot(in.Rootfs)
		if err != nil {
			return nil, fmt.Errorf("build spec: open rootfs: %w", err)
		}
		defer root.Close()
		files = rootFiles{root}
	}
	user, err := resolveUser(files, cfg.User, hc.GroupAdd)
	if err != nil {
		return nil, err
	}

	s := defaultSpec()
	s.Root = &specs.Root{Path: in.Rootfs, Readonly: hc.ReadonlyRootfs}
	s.Hostname = cfg.Hostname
	s.Process = &specs.Process{
		Terminal: cfg.Tty,
		User:     user,
		Args:     args,
		Env:      Env(cfg, cfg.Tty),
		Cwd:      cwd,
		Rlimits:  rlimits(hc.Ulimits),
	}
	if cfg.Tty && hc.ConsoleSize[0] > 0 && hc.ConsoleSize[1] > 0 {
		s.Process.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}
	oomScoreAdj := hc.OomScoreAdj
	s.Process.OOMScoreAdj = &oomScoreAdj

	capList, err := tweakCapabilities(hc.CapAdd, hc.CapDrop, hc.Privileged)
	if err != nil {
		return nil, err
	}
	s.Process.Capabilities = capabilitySet(capList, user.UID)

	if err := setNamespaces(s, hc, in.NetnsPath); err != nil {
		return nil, err
	}
	s.Mounts = mergeMounts(defaultMounts(shmSize(hc.ShmSize)), in.Mounts)
	if hc.IpcMode.IsHost() {
		s.Mounts = mergeMounts(s.Mounts, []specs.Mount{{
			Destination: "/dev/shm", Type: "bind", Source: "/dev/shm",
			Options: []string{"rbind", "nosuid", "noexec", "nodev"},
		}})
	}

	s.Linux.CgroupsPath = CgroupsPath(in.ID)
	s.Linux.Resources = resources(hc.Resources)
	if len(hc.Sysctls) > 0 {
		s.Linux.Sysctl = make(map[string]string, len(hc.Sysctls))
		for k, v := range hc.Sysctls {
			s.Linux.Sysctl[k] = v
		}
	}
	if hc.MaskedPaths != nil {
		s.Linux.MaskedPaths = append([]string{}, hc.MaskedPaths...)
	}
	if hc.ReadonlyPaths != nil {
		s.Linux.ReadonlyPaths = append([]string{}, hc.ReadonlyPaths...)
	}
	if hc.Privileged {
		applyPrivileged(s, in.HostDevices)
	}
	if len(hc.Annotations) > 0 {
		s.Annotations = make(map[string]string, len(hc.Annotations))
		for k, v := range hc.Annotations {
			s.Annotations[k] = v
		}
	}
	return s, nil
}

// applyPrivileged opens up what dockerd opens for --privileged: every
// capability (set earlier), writable /sys and cgroupfs, no masked or
// read-only paths, every device.
func applyPrivileged(s *specs.Spec, hostDevices []specs.LinuxDevice) {
	for i, m := range s.Mounts {
		if m.Destination == "/sys" || m.Type == "cgroup" {
			s.Mounts[i].Options = clearReadOnly(m.Options)
		}
	}
	s.Linux.MaskedPaths = nil
	s.Linux.ReadonlyPaths = nil
	s.Linux.Devices = append([]specs.LinuxDevice{}, hostDevices...)
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
}

func clearReadOnly(opts []string) []string {
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		if o != "ro" {
			out = append(out, o)
		}
	}
	return out
}

// setNamespaces applies the network, pid, ipc, uts and cgroup modes of the
// host config. Sharing another container's namespace is not supported yet.
func setNamespaces(s *specs.Spec, hc container.HostConfig, netnsPath string) error {
	switch {
	case hc.NetworkMode.IsHost():
		removeNamespace(s, specs.NetworkNamespace)
	case hc.NetworkMode.IsContainer():
		return fmt.Errorf("network mode %q is not supported yet: %w", hc.NetworkMode, errdefs.ErrInvalidArgument)
	case netnsPath != "":
		setNamespacePath(s, specs.NetworkNamespace, netnsPath)
	}
	switch {
	case hc.PidMode.IsHost():
		removeNamespace(s, specs.PIDNamespace)
	case hc.PidMode.IsContainer():
		return fmt.Errorf("pid mode %q is not supported yet: %w", hc.PidMode, errdefs.ErrInvalidArgument)
	}
	switch {
	case hc.IpcMode.IsHost():
		removeNamespace(s, specs.IPCNamespace)
	case hc.IpcMode.IsContainer(), hc.IpcMode.IsNone():
		return fmt.Errorf("ipc mode %q is not supported yet: %w", hc.IpcMode, errdefs.ErrInvalidArgument)
	}
	if hc.UTSMode.IsHost() {
		removeNamespace(s, specs.UTSNamespace)
		s.Hostname = ""
	}
	// dockerd fills an empty CgroupnsMode at create with its default: "host"
	// on cgroup v1 (this host), "private" on v2. Only "private" adds one.
	if hc.CgroupnsMode.IsPrivate() {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return nil
}

func removeNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	out := s.Linux.Namespaces[:0]
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != t {
			out = append(out, ns)
		}
	}
	s.Linux.Namespaces = out
}

func setNamespacePath(s *specs.Spec, t specs.LinuxNamespaceType, p string) {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == t {
			s.Linux.Namespaces[i].Path = p
		}
	}
}

// mergeMounts appends extra to base; an extra mount replaces a base mount with
// the same destination, and one on /dev also replaces the defaults below /dev,
// as dockerd does.
func mergeMounts(base, extra []specs.Mount) []specs.Mount {
	dests := make(map[string]bool, len(extra))
	for _, e := range extra {
		dests[path.Clean(e.Destination)] = true
	}
	out := make([]specs.Mount, 0, len(base)+len(extra))
	for _, b := range base {
		if dests[b.Destination] || (dests["/dev"] && strings.HasPrefix(b.Destination, "/dev/")) {
			continue
		}
		out = append(out, b)
	}
	return append(out, extra...)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func shmSize(n int64) int64 {
	if n <= 0 {
		return defaultShmSize
	}
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// rootFiles reads inside an os.Root, so symlinks in the image resolve within
// the rootfs, and lets files be opened non-blocking.
type rootFiles struct{ root *os.Root }

func (r rootFiles) Open(name string) (fs.File, error) { return r.root.Open(name) }

func (r rootFiles) OpenFile(name string, flag int, perm fs.FileMode) (fs.File, error) {
	return r.root.OpenFile(name, flag, perm)
}
