package containerd

import (
	"context"
	"strconv"
	"time"

	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cg2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/typeurl/v2"

	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/berth-dev/berth/sdk/runtime"
)

// Stats samples the task's cgroup through containerd's metrics call; both
// cgroup v1 and v2 metrics are decoded.
func (r *Runtime) Stats(ctx context.Context, id string) (*runtime.Stats, error) {
	s, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.owned(r, id); err != nil {
		return nil, err
	}
	resp, err := s.c.TaskService().Metrics(s.ctx, &tasksapi.MetricsRequest{Filters: []string{"id==" + strconv.Quote(id)}})
	if err != nil {
		return nil, wrapf(err, "stats of %s", id)
	}
	if len(resp.Metrics) == 0 || resp.Metrics[0].Data == nil {
		return nil, newError(errdefs.ErrNotFound, "stats of %s: containerd has no metrics for it", id)
	}
	m := resp.Metrics[0]
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return nil, newError(errdefs.ErrUnimplemented, "stats of %s: decode metrics: %v", id, err)
	}
	read := time.Now()
	if m.Timestamp != nil {
		read = m.Timestamp.AsTime()
	}
	switch v := data.(type) {
	case *cg1.Metrics:
		st := statsV1(v)
		st.Read = read
		return st, nil
	case *cg2.Metrics:
		st := statsV2(v)
		st.Read = read
		return st, nil
	}
	return nil, newError(errdefs.ErrUnimplemented, "stats of %s: unknown metrics type %s", id, m.Data.GetTypeUrl())
}

// statsV1 converts cgroup v1 metrics. MemoryStats uses the key names of
// the memory.stat file, as dockerd reports them.
func statsV1(m *cg1.Metrics) *runtime.Stats {
	st := &runtime.Stats{}
	if c := m.GetCPU().GetUsage(); c != nil {
		st.CPUTotal, st.CPUUser, st.CPUKernel = c.Total, c.User, c.Kernel
		st.PerCPU = append([]uint64(nil), c.PerCPU...)
	}
	if mem := m.GetMemory(); mem != nil {
		if u := mem.GetUsage(); u != nil {
			st.MemoryUsage, st.MemoryMaxUsage, st.MemoryLimit = u.Usage, u.Max, u.Limit
		}
		st.MemoryInactiveFile = mem.TotalInactiveFile
		st.MemoryStats = map[string]uint64{
			"cache": mem.Cache, "rss": mem.RSS, "rss_huge": mem.RSSHuge, "mapped_file": mem.MappedFile,
			"dirty": mem.Dirty, "writeback": mem.Writeback, "pgpgin": mem.PgPgIn, "pgpgout": mem.PgPgOut,
			"pgfault": mem.PgFault, "pgmajfault": mem.PgMajFault, "inactive_anon": mem.InactiveAnon,
			"active_anon": mem.ActiveAnon, "inactive_file": mem.InactiveFile, "active_file": mem.ActiveFile,
			"unevictable": mem.Unevictable, "hierarchical_memory_limit": mem.HierarchicalMemoryLimit,
			"hierarchical_memsw_limit": mem.HierarchicalSwapLimit,
			"total_cache":              mem.TotalCache, "total_rss": mem.TotalRSS, "total_rss_huge": mem.TotalRSSHuge,
			"total_mapped_file": mem.TotalMappedFile, "total_dirty": mem.TotalDirty,
			"total_writeback": mem.TotalWriteback, "total_pgpgin": mem.TotalPgPgIn,
			"total_pgpgout": mem.TotalPgPgOut, "total_pgfault": mem.TotalPgFault,
			"total_pgmajfault": mem.TotalPgMajFault, "total_inactive_anon": mem.TotalInactiveAnon,
			"total_active_anon": mem.TotalActiveAnon, "total_inactive_file": mem.TotalInactiveFile,
			"total_active_file": mem.TotalActiveFile, "total_unevictable": mem.TotalUnevictable,
		}
	}
	if p := m.GetPids(); p != nil {
		st.PidsCurrent, st.PidsLimit = p.Current, p.Limit
	}
	for _, e := range m.GetBlkio().GetIoServiceBytesRecursive() {
		switch e.Op {
		case "Read", "read":
			st.BlkioRead += e.Value
		case "Write", "write":
			st.BlkioWrite += e.Value
		}
	}
	return st
}

// statsV2 converts cgroup v2 metrics (CPU times come in microseconds).
func statsV2(m *cg2.Metrics) *runtime.Stats {
	st := &runtime.Stats{}
	if c := m.GetCPU(); c != nil {
		st.CPUTotal, st.CPUUser, st.CPUKernel = c.UsageUsec*1000, c.UserUsec*1000, c.SystemUsec*1000
	}
	if mem := m.GetMemory(); mem != nil {
		st.MemoryUsage, st.MemoryMaxUsage, st.MemoryLimit = mem.Usage, mem.MaxUsage, mem.UsageLimit
		st.MemoryInactiveFile = mem.InactiveFile
		st.MemoryStats = map[string]uint64{
			"anon": mem.Anon, "file": mem.File, "kernel_stack": mem.KernelStack, "slab": mem.Slab,
			"sock": mem.Sock, "shmem": mem.Shmem, "file_mapped": mem.FileMapped, "file_dirty": mem.FileDirty,
			"file_writeback": mem.FileWriteback, "anon_thp": mem.AnonThp, "inactive_anon": mem.InactiveAnon,
			"active_anon": mem.ActiveAnon, "inactive_file": mem.InactiveFile, "active_file": mem.ActiveFile,
			"unevictable": mem.Unevictable, "slab_reclaimable": mem.SlabReclaimable,
			"slab_unreclaimable": mem.SlabUnreclaimable, "pgfault": mem.Pgfault, "pgmajfault": mem.Pgmajfault,
		}
	}
	if p := m.GetPids(); p != nil {
		st.PidsCurrent, st.PidsLimit = p.Current, p.Limit
	}
	for _, e := range m.GetIo().GetUsage() {
		st.BlkioRead += e.Rbytes
		st.BlkioWrite += e.Wbytes
	}
	return st
}
