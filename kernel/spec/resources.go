package spec

import (
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cfsPeriod is the CFS period dockerd uses to express NanoCPUs as a quota.
const cfsPeriod = 100000

// resources maps the request's cgroup limits onto the spec, with dockerd's
// conventions: swap defaults to twice the memory limit, NanoCPUs become a
// quota over a 100 ms period, and a PidsLimit of 0 or less means unlimited.
func resources(r container.Resources) *specs.LinuxResources {
	out := &specs.LinuxResources{Devices: defaultDeviceRules()}

	mem := &specs.LinuxMemory{}
	if r.Memory > 0 {
		mem.Limit = i64(r.Memory)
		swap := r.MemorySwap
		if swap == 0 {
			swap = 2 * r.Memory
		}
		mem.Swap = i64(swap)
	}
	if r.MemoryReservation > 0 {
		mem.Reservation = i64(r.MemoryReservation)
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness >= 0 {
		s := uint64(*r.MemorySwappiness)
		mem.Swappiness = &s
	}
	if r.OomKillDisable != nil {
		d := *r.OomKillDisable
		mem.DisableOOMKiller = &d
	}
	if *mem != (specs.LinuxMemory{}) {
		out.Memory = mem
	}

	cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
	if r.CPUShares > 0 {
		s := uint64(r.CPUShares)
		cpu.Shares = &s
	}
	switch {
	case r.NanoCPUs > 0:
		p := uint64(cfsPeriod)
		cpu.Period = &p
		cpu.Quota = i64(r.NanoCPUs * cfsPeriod / 1e9)
	default:
		if r.CPUPeriod > 0 {
			p := uint64(r.CPUPeriod)
			cpu.Period = &p
		}
		if r.CPUQuota != 0 {
			cpu.Quota = i64(r.CPUQuota)
		}
	}
	if *cpu != (specs.LinuxCPU{}) {
		out.CPU = cpu
	}

	if r.PidsLimit != nil && *r.PidsLimit > 0 {
		out.Pids = &specs.LinuxPids{Limit: i64(*r.PidsLimit)}
	}
	return out
}
