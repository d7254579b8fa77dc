package spec

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// DefaultCapabilities is Docker's default capability set, in Docker's order.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// AllCapabilities lists every capability Linux defines up to
// CAP_CHECKPOINT_RESTORE (40), in number order. dockerd trims its list to the
// running kernel's cap_last_cap; a pure function cannot read it, and runc
// (1.1+) ignores capabilities the kernel does not know, with a warning.
func AllCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
		"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
		"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
		"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
		"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
		"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
		"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
		"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
		"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
		"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
		"CAP_CHECKPOINT_RESTORE",
	}
}

// normalizeCaps upper-cases names, adds the CAP_ prefix, keeps "ALL" and
// rejects unknown capabilities, as dockerd does for --cap-add/--cap-drop.
func normalizeCaps(in []string) ([]string, error) {
	all := AllCapabilities()
	out := make([]string, 0, len(in))
	for _, c := range in {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == "ALL" {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !slices.Contains(all, c) {
			return nil, fmt.Errorf("unknown capability: %q: %w", c, errdefs.ErrInvalidArgument)
		}
		out = append(out, c)
	}
	return out, nil
}

// tweakCapabilities applies --privileged, --cap-add and --cap-drop to the
// default set with dockerd's precedence: privileged gives everything; "ALL"
// in CapAdd gives everything but CapDrop; "ALL" in CapDrop gives exactly
// CapAdd; otherwise the defaults minus CapDrop plus CapAdd.
func tweakCapabilities(add, drop []string, privileged bool) ([]string, error) {
	if privileged {
		return AllCapabilities(), nil
	}
	if len(add) == 0 && len(drop) == 0 {
		return DefaultCapabilities(), nil
	}
	capAdd, err := normalizeCaps(add)
	if err != nil {
		return nil, err
	}
	capDrop, err := normalizeCaps(drop)
	if err != nil {
		return nil, err
	}
	var out []string
	switch {
	case slices.Contains(capAdd, "ALL"):
		for _, c := range AllCapabilities() {
			if !slices.Contains(capDrop, c) {
				out = append(out, c)
			}
		}
	case slices.Contains(capDrop, "ALL"):
		out = appendUnique(out, capAdd...)
	default:
		for _, c := range DefaultCapabilities() {
			if !slices.Contains(capDrop, c) {
				out = append(out, c)
			}
		}
		out = appendUnique(out, capAdd...)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func appendUnique(dst []string, add ...string) []string {
	for _, c := range add {
		if c != "ALL" && !slices.Contains(dst, c) {
			dst = append(dst, c)
		}
	}
	return dst
}

// capabilitySet gives root the capabilities in its bounding, effective and
// permitted sets; a non-root user gets them only as the bounding set, which
// is what execve would leave it (dockerd since the CVE-2022-24769 fix). The
// inheritable set stays empty for the same reason.
func capabilitySet(list []string, uid uint32) *specs.LinuxCapabilities {
	if uid == 0 {
		return &specs.LinuxCapabilities{
			Bounding:  list,
			Effective: slices.Clone(list),
			Permitted: slices.Clone(list),
		}
	}
	return &specs.LinuxCapabilities{Bounding: list}
}
