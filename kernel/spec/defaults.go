package spec

import (
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultShmSize is dockerd's default /dev/shm size (64 MiB).
const defaultShmSize = 64 << 20

// defaultSpec is dockerd's default Linux spec (daemon/pkg/oci DefaultLinuxSpec
// in moby v28/v29): namespaces, masked and read-only paths, and the device
// cgroup allow list. Mounts and process are filled by Build.
func defaultSpec() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi",
				"/proc/asound",
				"/proc/interrupts",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/sched_debug",
				"/proc/scsi",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/sys/devices/virtual/powercap",
				"/sys/firmware",
				// dockerd also masks /sys/devices/system/cpu/cpuN/thermal_throttle
				// for each CPU where it exists; that needs I/O, left out for now.
			},
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
			// runc creates null, zero, full, random, urandom, tty, console and
			// ptmx by itself (the OCI default devices); nothing else is added.
			Devices: []specs.LinuxDevice{},
		},
	}
}

// defaultDeviceRules is dockerd's device cgroup list: deny everything, allow
// the character devices every container has, and deny /dev/fuse explicitly.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},     // /dev/zero
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},     // /dev/null
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},     // /dev/urandom
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},     // /dev/random
		{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},     // /dev/tty
		{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"},     // /dev/console
		{Allow: false, Type: "c", Major: i64(10), Minor: i64(229), Access: "rwm"}, // /dev/fuse
	}
}

// defaultMounts is dockerd's mount list, with /dev/shm sized as for a
// private IPC namespace.
func defaultMounts(shmBytes int64) []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + itoa(shmBytes)}},
	}
}

// rlimits returns the request's ulimits (by name). Like dockerd, Berth sets
// no default: the process inherits the shim's limits. A fixed default such
// as 1048576 open files fails on hosts whose hard limit is lower (runc:
// "error setting rlimit type 7: operation not permitted").
func rlimits(ulimits []*container.Ulimit) []specs.POSIXRlimit {
	var out []specs.POSIXRlimit
	for _, u := range ulimits {
		if u == nil {
			continue
		}
		r := specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Hard: uint64(u.Hard), Soft: uint64(u.Soft)}
		replaced := false
		for i := range out {
			if out[i].Type == r.Type {
				out[i] = r
				replaced = true
			}
		}
		if !replaced {
			out = append(out, r)
		}
	}
	return out
}

func i64(n int64) *int64 { return &n }
