package kernel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	mobyimage "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/storage"
	"github.com/moby/moby/api/types/system"

	"github.com/berth-dev/berth/kernel/api"
	"github.com/berth-dev/berth/kernel/container"
	"github.com/berth-dev/berth/kernel/image"
	"github.com/berth-dev/berth/kernel/spec"
	"github.com/berth-dev/berth/plugins"
	"github.com/berth-dev/berth/sdk/base"
	"github.com/berth-dev/berth/sdk/errdefs"
)

// containerService is the API's view of containers.
type containerService struct{ d *Daemon }

var _ api.Containers = (*containerService)(nil)

func (s *containerService) Create(ctx context.Context, name string, cfg *mobycontainer.Config, hc *mobycontainer.HostConfig, nc *network.NetworkingConfig) (string, []string, error) {
	return s.d.create(ctx, name, cfg, hc, nc)
}

func (s *containerService) Start(ctx context.Context, id string) error { return s.d.start(ctx, id) }

func (s *containerService) Stop(ctx context.Context, id string, timeout *int, sig syscall.Signal) error {
	return s.d.stop(ctx, id, timeout, sig)
}

func (s *containerService) Restart(ctx context.Context, id string, timeout *int, sig syscall.Signal) error {
	if err := s.d.stop(ctx, id, timeout, sig); err != nil && !errors.Is(err, api.ErrNotModified) {
		return err
	}
	err := s.d.start(ctx, id)
	if errors.Is(err, api.ErrNotModified) {
		return nil
	}
	if err == nil {
		if c, gerr := s.d.reg.Get(id); gerr == nil {
			s.d.record(c.Event(events.ActionRestart, nil))
		}
	}
	return err
}

func (s *containerService) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	return s.d.kill(ctx, id, sig)
}

func (s *containerService) Remove(ctx context.Context, id string, force, volumes bool) error {
	return s.d.remove(ctx, id, force)
}

func (s *containerService) Wait(ctx context.Context, ref string, cond mobycontainer.WaitCondition) (<-chan api.WaitResult, error) {
	c, err := s.d.reg.Get(ref)
	if err != nil {
		return nil, err
	}
	ch, cancel, err := s.d.reg.Wait(c.ID, cond)
	if err != nil {
		return nil, err
	}
	out := make(chan api.WaitResult, 1)
	go func() {
		defer cancel()
		select {
		case r := <-ch:
			out <- api.WaitResult{StatusCode: int64(r.ExitCode), Error: r.Error}
		case <-ctx.Done():
		}
		close(out)
	}()
	return out, nil
}

func (s *containerService) Attach(ctx context.Context, ref string, opts api.AttachOptions, open func(tty bool) (*api.AttachStreams, error)) error {
	c, err := s.d.reg.Get(ref)
	if err != nil {
		return err
	}
	if c.State.Paused {
		return classed(errdefs.ErrConflict, "You cannot attach to a paused container, unpause it first")
	}
	tty := c.Config != nil && c.Config.Tty
	// A container that is not running gets the output of its next start,
	// as `docker start -a` needs (it attaches, then starts).
	streams, err := open(tty)
	if err != nil {
		return err
	}
	if !opts.Stream {
		return nil
	}
	cio := s.d.ioFor(c.ID)
	req := cio.attach(streams.Stdout, streams.Stderr)
	select {
	case <-req.ready:
	case <-streams.Gone:
		cio.cancel(req)
		return nil
	}
	if req.att == nil {
		return nil // the container never produced output (start failed, removed)
	}
	defer req.att.Close()
	if opts.Stdin && streams.Stdin != nil {
		stdinOnce := c.Config != nil && c.Config.StdinOnce
		go func() {
			if err := req.copier.CopyStdin(streams.Stdin, false); err != nil || !stdinOnce {
				return
			}
			// The client's stdin ended: the process reads EOF once the
			// shim has passed on what came before (dockerd: CloseIO).
			req.copier.WaitStdinDrained(2 * time.Second)
			_ = req.copier.CloseStdin()
			if err := s.d.rt.CloseStdin(context.Background(), c.ID, ""); err != nil {
				s.d.log.Debug("close stdin", "container", c.ID, "err", err)
			}
		}()
	}
	// Not ctx.Done: net/http cancels a hijacked request's context when the
	// client half-closes (the docker CLI does at once without -i), which
	// is not a disconnect. streams.Gone is.
	select {
	case <-req.att.Done():
	case <-streams.Gone:
	}
	return nil
}

func (s *containerService) Resize(ctx context.Context, ref string, height, width uint) error {
	c, err := s.d.reg.Get(ref)
	if err != nil {
		return err
	}
	if !c.State.Running {
		return classed(errdefs.ErrConflict, "Container %s is not running", ref)
	}
	return s.d.rt.ResizePTY(ctx, c.ID, "", uint32(width), uint32(height))
}

func (s *containerService) Pause(ctx context.Context, ref string) error {
	return s.d.pause(ctx, ref, true)
}

func (s *containerService) Unpause(ctx context.Context, ref string) error {
	return s.d.pause(ctx, ref, false)
}

func (s *containerService) List(ctx context.Context, opts api.ListOptions) ([]mobycontainer.Summary, error) {
	list := s.d.reg.List()
	now := time.Now()
	out := make([]mobycontainer.Summary, 0, len(list))
	for _, c := range list {
		if !opts.All && !c.State.Running && !opts.Filters.Contains("status") {
			continue
		}
		out = append(out, summary(c, now))
	}
	return out, nil
}

func summary(c *container.Container, now time.Time) mobycontainer.Summary {
	sm := mobycontainer.Summary{
		ID:      c.ID,
		Names:   []string{c.Name},
		Image:   c.ImageName,
		ImageID: c.Image,
		Command: strings.Join(append([]string{c.Path}, c.Args...), " "),
		Created: c.Created.Unix(),
		Ports:   []mobycontainer.PortSummary{},
		Labels:  c.Labels(),
		State:   c.State.Status,
		Status:  container.StatusText(c.State, "", now),
		Mounts:  []mobycontainer.MountPoint{},
	}
	if sm.Labels == nil {
		sm.Labels = map[string]string{}
	}
	if c.HostConfig != nil {
		sm.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	}
	sm.NetworkSettings = &mobycontainer.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}}
	return sm
}

func (s *containerService) Inspect(ctx context.Context, ref string) (*mobycontainer.InspectResponse, error) {
	c, err := s.d.reg.Get(ref)
	if err != nil {
		return nil, err
	}
	st := c.State
	r := &mobycontainer.InspectResponse{
		ID:      c.ID,
		Created: c.Created.Format(time.RFC3339Nano),
		Path:    c.Path,
		Args:    c.Args,
		State: &mobycontainer.State{
			Status:     st.Status,
			Running:    st.Running,
			Paused:     st.Paused,
			Restarting: st.Restarting,
			OOMKilled:  st.OOMKilled,
			Dead:       st.Dead,
			Pid:        st.Pid,
			ExitCode:   st.ExitCode,
			Error:      st.Error,
			StartedAt:  timeString(st.StartedAt),
			FinishedAt: timeString(st.FinishedAt),
		},
		Image:           c.Image,
		ResolvConfPath:  c.ResolvConfPath,
		HostnamePath:    c.HostnamePath,
		HostsPath:       c.HostsPath,
		LogPath:         c.LogPath,
		Name:            c.Name,
		RestartCount:    c.RestartCount,
		Driver:          c.Driver,
		Platform:        c.Platform,
		HostConfig:      c.HostConfig,
		Config:          c.Config,
		Mounts:          []mobycontainer.MountPoint{},
		NetworkSettings: c.NetworkSettings,
		GraphDriver: &storage.DriverData{Name: c.Driver, Data: map[string]string{
			"MergedDir": c.RootfsPath,
		}},
	}
	if r.Args == nil {
		r.Args = []string{}
	}
	if r.NetworkSettings == nil {
		r.NetworkSettings = &mobycontainer.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}
	}
	return r, nil
}

// timeString formats like dockerd: RFC 3339 with nanoseconds, and Go's zero
// time for "never".
func timeString(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// imageConfig converts an image's config for kernel/spec.
func imageConfig(img *image.Image) spec.ImageConfig {
	if img == nil || img.Config == nil {
		return spec.ImageConfig{}
	}
	c := img.Config.Config
	return spec.ImageConfig{
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		Env:        c.Env,
		WorkingDir: c.WorkingDir,
		User:       c.User,
		StopSignal: c.StopSignal,
		Labels:     c.Labels,
	}
}

// imageService is the API's view of the image store.
type imageService struct{ d *Daemon }

var _ api.Images = (*imageService)(nil)

func (s *imageService) Pull(ctx context.Context, fromImage, tag, platform, authHeader string, w io.Writer) error {
	ref := fromImage
	if tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	var auth *image.AuthConfig
	if authHeader != "" {
		a, err := decodeAuth(authHeader)
		if err != nil {
			return err
		}
		if a.Username != "" || a.Password != "" || a.IdentityToken != "" || a.RegistryToken != "" || a.Auth != "" {
			auth = a
		}
	}
	err := s.d.images.Pull(ctx, ref, auth, platform, w)
	if err == nil {
		if named, perr := image.ParseReference(ref); perr == nil {
			s.d.imageEvent(events.ActionPull, image.FamiliarString(named), nil)
		}
	}
	return err
}

// decodeAuth reads an X-Registry-Auth header: base64url JSON, padded or not.
func decodeAuth(h string) (*registry.AuthConfig, error) {
	data, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		data, err = base64.RawURLEncoding.DecodeString(h)
	}
	if err != nil {
		return nil, classed(errdefs.ErrInvalidArgument, "invalid X-Registry-Auth header: %v", err)
	}
	var a registry.AuthConfig
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, classed(errdefs.ErrInvalidArgument, "invalid X-Registry-Auth header: %v", err)
	}
	return &a, nil
}

func (s *imageService) Import(ctx context.Context, src io.Reader, repo, tag string, changes []string, w io.Writer) error {
	repoTag := repo
	if repo != "" && tag != "" {
		repoTag += ":" + tag
	}
	id, err := s.d.images.Import(ctx, src, repoTag, changes, w)
	if err != nil {
		return err
	}
	s.d.imageEvent(events.ActionImport, id, nil)
	return nil
}

func (s *imageService) List(ctx context.Context, opts api.ImageListOptions) ([]mobyimage.Summary, error) {
	imgs, err := s.d.images.List()
	if err != nil {
		return nil, err
	}
	users := map[string]int64{}
	for _, c := range s.d.reg.List() {
		users[c.Image]++
	}
	out := make([]mobyimage.Summary, 0, len(imgs))
	for _, img := range imgs {
		if opts.Filters.Contains("dangling") && (len(img.RepoTags) == 0) != (opts.Filters.Get("dangling")[0] == "true") {
			continue
		}
		if refs := opts.Filters.Get("reference"); len(refs) > 0 && !matchReference(img.RepoTags, refs) {
			continue
		}
		if !opts.All && len(img.RepoTags) == 0 && !opts.Filters.Contains("dangling") {
			continue
		}
		sm := mobyimage.Summary{
			Containers:  users[img.ID],
			Created:     img.Created.Unix(),
			ID:          img.ID,
			Labels:      map[string]string{},
			RepoDigests: nonNil(img.RepoDigests),
			RepoTags:    nonNil(img.RepoTags),
			SharedSize:  -1,
			Size:        img.Size,
		}
		if img.Config != nil && img.Config.Config.Labels != nil {
			sm.Labels = img.Config.Config.Labels
		}
		out = append(out, sm)
	}
	return out, nil
}

func matchReference(tags, patterns []string) bool {
	for _, t := range tags {
		repo := t
		if i := strings.LastIndex(t, ":"); i > strings.LastIndex(t, "/") {
			repo = t[:i]
		}
		for _, p := range patterns {
			if p == t || p == repo {
				return true
			}
		}
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *imageService) Inspect(ctx context.Context, name string) (*mobyimage.InspectResponse, error) {
	img, err := s.d.images.Get(name)
	if err != nil {
		return nil, err
	}
	var oci dockerspec.DockerOCIImage
	if err := json.Unmarshal(img.RawConfig, &oci); err != nil {
		return nil, fmt.Errorf("decode image config: %w", err)
	}
	r := &mobyimage.InspectResponse{
		ID:           img.ID,
		RepoTags:     nonNil(img.RepoTags),
		RepoDigests:  nonNil(img.RepoDigests),
		Created:      img.Created.UTC().Format(time.RFC3339Nano),
		Config:       &oci.Config,
		Architecture: img.Architecture,
		Variant:      img.Variant,
		Os:           img.Os,
		Size:         img.Size,
		GraphDriver:  &storage.DriverData{Name: s.d.cfg.GraphDriver, Data: map[string]string{}},
		RootFS:       mobyimage.RootFS{Type: "layers"},
	}
	for _, d := range oci.RootFS.DiffIDs {
		r.RootFS.Layers = append(r.RootFS.Layers, d.String())
	}
	return r, nil
}

func (s *imageService) Delete(ctx context.Context, name string, force, prune bool) ([]mobyimage.DeleteResponse, error) {
	inUse := func(imageID string) (string, bool) {
		var stopped string
		for _, c := range s.d.reg.List() {
			if c.Image == imageID {
				if c.State.Running {
					return c.ID, true
				}
				stopped = c.ID
			}
		}
		return stopped, false
	}
	items, err := s.d.images.Delete(ctx, name, force, inUse)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.Untagged != "" {
			s.d.imageEvent(events.ActionUnTag, it.Untagged, nil)
		}
		if it.Deleted != "" {
			s.d.imageEvent(events.ActionDelete, it.Deleted, nil)
		}
	}
	return items, nil
}

func (d *Daemon) imageEvent(action events.Action, id string, attrs map[string]string) {
	if attrs == nil {
		attrs = map[string]string{}
	}
	if _, ok := attrs["name"]; !ok {
		attrs["name"] = id
	}
	now := time.Now()
	d.record(events.Message{Type: events.ImageEventType, Action: action, Actor: events.Actor{ID: id, Attributes: attrs}, Scope: "local", Time: now.Unix(), TimeNano: now.UnixNano()})
}

// pluginMessage turns a plugin host event into a Docker event.
func pluginMessage(ev plugins.Event) events.Message {
	now := time.Now()
	attrs := map[string]string{"name": ev.Name, "kind": string(ev.Kind)}
	if ev.Reason != "" {
		attrs["reason"] = ev.Reason
	}
	return events.Message{
		Type:     events.PluginEventType,
		Action:   events.Action(ev.Action),
		Actor:    events.Actor{ID: ev.Name, Attributes: attrs},
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	}
}

// eventService is the API's view of the event bus.
type eventService struct{ d *Daemon }

var _ api.Events = (*eventService)(nil)

func (s *eventService) Subscribe(ctx context.Context, opts api.EventsOptions) (<-chan events.Message, error) {
	f := opts.Filters
	since := opts.Since
	if since.IsZero() && !opts.Until.IsZero() {
		since = time.Unix(0, 1)
	}
	sub, err := s.d.bus.Subscribe(since, opts.Until, f)
	if err != nil {
		return nil, err
	}
	out := make(chan events.Message, 64)
	go func() {
		defer close(out)
		defer sub.Cancel()
		for _, m := range sub.Past {
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
		for {
			select {
			case m, ok := <-sub.C:
				if !ok {
					return
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// systemService answers /info and /version.
type systemService struct{ d *Daemon }

var _ api.System = (*systemService)(nil)

func (s *systemService) Info(ctx context.Context) (*system.Info, error) {
	d := s.d
	info := &system.Info{
		ID:                 d.id,
		OSType:             "linux",
		Architecture:       archName(),
		NCPU:               runtime.NumCPU(),
		ServerVersion:      Version,
		Driver:             d.cfg.GraphDriver,
		LoggingDriver:      "none",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgroupVersion(),
		DockerRootDir:      d.cfg.Root,
		DefaultRuntime:     d.cfg.Runtime,
		LiveRestoreEnabled: true,
		NGoroutines:        runtime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		KernelVersion:      kernelVersion(),
		OperatingSystem:    osName(),
		SecurityOptions:    []string{},
		Labels:             []string{},
		Warnings:           []string{},
	}
	info.Name, _ = os.Hostname()
	info.MemTotal = memTotal()
	for _, c := range d.reg.List() {
		info.Containers++
		switch {
		case c.State.Paused:
			info.ContainersPaused++
		case c.State.Running:
			info.ContainersRunning++
		default:
			info.ContainersStopped++
		}
	}
	if imgs, err := d.images.List(); err == nil {
		info.Images = len(imgs)
	}
	if st, err := d.gd.Status(ctx); err == nil {
		info.DriverStatus = st
	}
	info.Runtimes = map[string]system.RuntimeWithStatus{}
	for _, p := range d.cfg.Plugins.Plugins() {
		for _, k := range p.Kinds {
			if k == base.KindRuntime {
				info.Runtimes[p.Name] = system.RuntimeWithStatus{Status: map[string]string{"state": string(p.State)}}
			}
		}
		info.SystemStatus = append(info.SystemStatus, [2]string{"Plugin " + p.Name, fmt.Sprintf("%s, pid %d, restarts %d", p.State, p.Pid, p.Restarts)})
	}
	return info, nil
}

func (s *systemService) Version(ctx context.Context) (*system.VersionResponse, error) {
	return &system.VersionResponse{
		Version:       Version,
		Os:            "linux",
		Arch:          runtime.GOARCH, // dockerd: GOARCH here, uname's name in /info
		GoVersion:     runtime.Version(),
		KernelVersion: kernelVersion(),
	}, nil
}

func archName() string {
	if runtime.GOARCH == "amd64" {
		return "x86_64"
	}
	return runtime.GOARCH
}

func kernelVersion() string {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func osName() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "linux"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}

func cgroupVersion() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "2"
	}
	return "1"
}

func memTotal() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}
