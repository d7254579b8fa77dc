package runtime

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/berth-dev/berth/sdk/errdefs"
	runtimepb "github.com/berth-dev/berth/sdk/runtime/proto"
)

// This file converts between the Go types of the runtime kind and their
// protobuf form; it is shared by client.go and server.go only.

// unixNano encodes t; the zero time is 0 so that "no exit yet" survives.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// marshalJSON encodes an OCI structure; nil becomes empty bytes.
func marshalJSON[T any](v *T) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// unmarshalJSON decodes an OCI structure; empty bytes become nil.
func unmarshalJSON[T any](b []byte) (*T, error) {
	if len(b) == 0 {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decode %T: %v: %w", v, err, errdefs.ErrInvalidArgument)
	}
	return v, nil
}

func stdioToPB(s Stdio) *runtimepb.Stdio {
	return &runtimepb.Stdio{Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr, Terminal: s.Terminal}
}

func stdioFromPB(s *runtimepb.Stdio) Stdio {
	return Stdio{Stdin: s.GetStdin(), Stdout: s.GetStdout(), Stderr: s.GetStderr(), Terminal: s.GetTerminal()}
}

func taskToPB(t Task) *runtimepb.Task {
	return &runtimepb.Task{
		Id:               t.ID,
		Pid:              t.Pid,
		Status:           string(t.Status),
		ExitStatus:       t.ExitStatus,
		ExitedAtUnixNano: unixNano(t.ExitedAt),
		Stdio:            stdioToPB(t.Stdio),
		Labels:           t.Labels,
	}
}

func taskFromPB(t *runtimepb.Task) Task {
	return Task{
		ID:         t.GetId(),
		Pid:        t.GetPid(),
		Status:     Status(t.GetStatus()),
		ExitStatus: t.GetExitStatus(),
		ExitedAt:   fromUnixNano(t.GetExitedAtUnixNano()),
		Stdio:      stdioFromPB(t.GetStdio()),
		Labels:     t.GetLabels(),
	}
}

func eventToPB(e Event) *runtimepb.Event {
	return &runtimepb.Event{
		Type:             string(e.Type),
		ContainerId:      e.ContainerID,
		ExecId:           e.ExecID,
		Pid:              e.Pid,
		ExitStatus:       e.ExitStatus,
		ExitedAtUnixNano: unixNano(e.ExitedAt),
	}
}

func eventFromPB(e *runtimepb.Event) Event {
	return Event{
		Type:        EventType(e.GetType()),
		ContainerID: e.GetContainerId(),
		ExecID:      e.GetExecId(),
		Pid:         e.GetPid(),
		ExitStatus:  e.GetExitStatus(),
		ExitedAt:    fromUnixNano(e.GetExitedAtUnixNano()),
	}
}

func statsToPB(s *Stats) *runtimepb.StatsResponse {
	return &runtimepb.StatsResponse{
		ReadUnixNano:       unixNano(s.Read),
		CpuTotal:           s.CPUTotal,
		CpuUser:            s.CPUUser,
		CpuKernel:          s.CPUKernel,
		PerCpu:             s.PerCPU,
		MemoryUsage:        s.MemoryUsage,
		MemoryMaxUsage:     s.MemoryMaxUsage,
		MemoryLimit:        s.MemoryLimit,
		MemoryInactiveFile: s.MemoryInactiveFile,
		MemoryStats:        s.MemoryStats,
		PidsCurrent:        s.PidsCurrent,
		PidsLimit:          s.PidsLimit,
		BlkioRead:          s.BlkioRead,
		BlkioWrite:         s.BlkioWrite,
	}
}

func statsFromPB(s *runtimepb.StatsResponse) *Stats {
	return &Stats{
		Read:               fromUnixNano(s.GetReadUnixNano()),
		CPUTotal:           s.GetCpuTotal(),
		CPUUser:            s.GetCpuUser(),
		CPUKernel:          s.GetCpuKernel(),
		PerCPU:             s.GetPerCpu(),
		MemoryUsage:        s.GetMemoryUsage(),
		MemoryMaxUsage:     s.GetMemoryMaxUsage(),
		MemoryLimit:        s.GetMemoryLimit(),
		MemoryInactiveFile: s.GetMemoryInactiveFile(),
		MemoryStats:        s.GetMemoryStats(),
		PidsCurrent:        s.GetPidsCurrent(),
		PidsLimit:          s.GetPidsLimit(),
		BlkioRead:          s.GetBlkioRead(),
		BlkioWrite:         s.GetBlkioWrite(),
	}
}
