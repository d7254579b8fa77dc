package spec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/sdk/errdefs"
)

const testID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestEntrypointCmd(t *testing.T) {
	img := ImageConfig{Entrypoint: []string{"/ep", "-x"}, Cmd: []string{"default", "arg"}}
	cases := []struct {
		name       string
		img        ImageConfig
		entrypoint []string
		cmd        []string
		want       []string
	}{
		{"image only", img, nil, nil, []string{"/ep", "-x", "default", "arg"}},
		{"request cmd replaces image cmd", img, nil, []string{"run"}, []string{"/ep", "-x", "run"}},
		{"request entrypoint drops image cmd", img, []string{"/other"}, nil, []string{"/other"}},
		{"request entrypoint and cmd", img, []string{"/other"}, []string{"a"}, []string{"/other", "a"}},
		{"empty entrypoint resets it", img, []string{""}, []string{"echo", "hi"}, []string{"echo", "hi"}},
		{"explicit empty list entrypoint", img, []string{}, []string{"echo"}, []string{"echo"}},
		{"cmd-only image", ImageConfig{Cmd: []string{"sh"}}, nil, []string{"echo", "hi"}, []string{"echo", "hi"}},
		{"entrypoint-only image", ImageConfig{Entrypoint: []string{"/bin/app"}}, nil, []string{"--flag"}, []string{"/bin/app", "--flag"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Build(Input{ID: testID, Image: tc.img, Config: &container.Config{Entrypoint: tc.entrypoint, Cmd: tc.cmd},
				Rootfs: "/rootfs", RootfsFiles: os.DirFS("testdata/rootfs")})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Args, tc.want) {
				t.Errorf("args = %q, want %q", s.Process.Args, tc.want)
			}
		})
	}
	_, err := Build(Input{ID: testID, Config: &container.Config{Entrypoint: []string{""}}, Rootfs: "/rootfs", RootfsFiles: os.DirFS("testdata/rootfs")})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "no command specified") {
		t.Errorf("no command: err = %v, want invalid argument 'no command specified'", err)
	}
}

func TestEnv(t *testing.T) {
	cases := []struct {
		name     string
		image    []string
		request  []string
		hostname string
		tty      bool
		want     []string
	}{
		{"defaults", nil, nil, "", false, []string{"PATH=" + DefaultPathEnv, "HOSTNAME=0123456789ab"}},
		{"tty adds TERM", nil, nil, "h", true, []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h", "TERM=xterm"}},
		{"image PATH replaces default in place", []string{"A=1", "PATH=/bin"}, nil, "h", false, []string{"PATH=/bin", "HOSTNAME=h", "A=1"}},
		{"request overrides image by key", []string{"A=1", "B=2"}, []string{"B=3", "C=4"}, "h", false, []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h", "B=3", "C=4", "A=1"}},
		{"request TERM wins", nil, []string{"TERM=dumb"}, "h", true, []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h", "TERM=dumb"}},
		{"value with equals signs", []string{"X=a=b"}, nil, "h", false, []string{"PATH=" + DefaultPathEnv, "HOSTNAME=h", "X=a=b"}},
		{"bare key unsets", []string{"A=1"}, []string{"HOSTNAME"}, "h", false, []string{"PATH=" + DefaultPathEnv, "A=1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Build(Input{ID: testID, Image: ImageConfig{Env: tc.image, Cmd: []string{"x"}},
				Config: &container.Config{Env: tc.request, Hostname: tc.hostname, Tty: tc.tty}, Rootfs: "/rootfs", RootfsFiles: os.DirFS("testdata/rootfs")})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Env, tc.want) {
				t.Errorf("env = %q, want %q", s.Process.Env, tc.want)
			}
		})
	}
}

func TestMergeConfig(t *testing.T) {
	img := ImageConfig{User: "app", WorkingDir: "/srv", StopSignal: "SIGQUIT", Labels: map[string]string{"a": "img", "b": "img"}}
	got := MergeConfig(img, container.Config{Labels: map[string]string{"b": "req"}, WorkingDir: "/x"})
	if got.User != "app" || got.WorkingDir != "/x" || got.StopSignal != "SIGQUIT" {
		t.Errorf("merged user/workdir/stopsignal = %q %q %q", got.User, got.WorkingDir, got.StopSignal)
	}
	if got.Labels["a"] != "img" || got.Labels["b"] != "req" {
		t.Errorf("labels = %v", got.Labels)
	}
	if img.Labels["b"] != "img" {
		t.Error("MergeConfig modified the image labels")
	}
}

func TestUser(t *testing.T) {
	cases := []struct {
		spec     string
		groupAdd []string
		uid, gid uint32
		gids     []uint32
	}{
		{"", nil, 0, 0, []uint32{0, 10}},
		{"root", nil, 0, 0, []uint32{0, 10}},
		{"app", nil, 1000, 1000, []uint32{1000, 10, 50}},
		{"1000", nil, 1000, 1000, []uint32{1000, 10, 50}},
		{"www-data", nil, 33, 33, []uint32{33}},
		{"app:staff", nil, 1000, 50, []uint32{50}},
		{"app:33", nil, 1000, 33, []uint32{33}},
		{"4242", nil, 4242, 0, []uint32{0}},
		{"4242:4343", nil, 4242, 4343, []uint32{4343}},
		{"nobody", []string{"wheel", "777"}, 65534, 65534, []uint32{65534, 10, 777}},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := Build(Input{ID: testID, Image: ImageConfig{Cmd: []string{"x"}}, Config: &container.Config{User: tc.spec},
				HostConfig: &container.HostConfig{GroupAdd: tc.groupAdd}, Rootfs: "/rootfs", RootfsFiles: os.DirFS("testdata/rootfs")})
			if err != nil {
				t.Fatal(err)
			}
			u := s.Process.User
			if u.UID != tc.uid || u.GID != tc.gid || !slices.Equal(u.AdditionalGids, tc.gids) {
				t.Errorf("user = %d:%d %v, want %d:%d %v", u.UID, u.GID, u.AdditionalGids, tc.uid, tc.gid, tc.gids)
			}
			root := u.UID == 0
			if got := len(s.Process.Capabilities.Effective) > 0; got != root {
				t.Errorf("effective caps present = %v for uid %d", got, u.UID)
			}
		})
	}
}

func TestUserErrors(t *testing.T) {
	cases := []struct {
		spec, groupAdd, want string
	}{
		{"ghost", "", "unable to find user ghost: no matching entries in passwd file"},
		{"app:ghosts", "", "unable to find group ghosts: no matching entries in group file"},
		{"app", "ghosts", "unable to find group ghosts: no matching entries in group file"},
		{"99999999999", "", "unable to find user 99999999999: uids and gids must be in range"},
		{"-1", "", "unable to find user -1: uids and gids must be in range"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			hc := &container.HostConfig{}
			if tc.groupAdd != "" {
				hc.GroupAdd = []string{tc.groupAdd}
			}
			_, err := Build(Input{ID: testID, Image: ImageConfig{Cmd: []string{"x"}}, Config: &container.Config{User: tc.spec},
				HostConfig: hc, Rootfs: "/rootfs", RootfsFiles: os.DirFS("testdata/rootfs")})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("err = %v, want invalid argument containing %q", err, tc.want)
			}
		})
	}
}

// TestUserFromRealRootfs reads passwd through Rootfs (os.Root): a missing
// passwd leaves numeric users working and names failing; a symlink pointing
// outside the rootfs resolves inside it; a FIFO is refused without blocking.
func TestUserFromRealRootfs(t *testing.T) {
	cmd := &container.Config{Cmd: []string{"x"}}

	scratch := t.TempDir()
	if _, err := Build(Input{ID: testID, Config: cmd, Rootfs: scratch}); err != nil {
		t.Errorf("scratch rootfs, root user: %v", err)
	}
	if _, err := Build(Input{ID: testID, Config: &container.Config{Cmd: []string{"x"}, User: "app"}, Rootfs: scratch}); err == nil ||
		!strings.Contains(err.Error(), "unable to find user app: no matching entries in passwd file") {
		t.Errorf("scratch rootfs, named user: err = %v", err)
	}

	// /etc/passwd -> /../../host/passwd must not reach the host file.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "passwd"), []byte("evil:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(rootfs, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	_, err := Build(Input{ID: testID, Config: &container.Config{Cmd: []string{"x"}, User: "evil"}, Rootfs: rootfs})
	if err == nil {
		t.Error("a passwd symlink escaping the rootfs was followed")
	}

	fifoRoot := t.TempDir()
	if err := os.MkdirAll(filepath.Join(fifoRoot, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(fifoRoot, "etc", "passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Build(Input{ID: testID, Config: cmd, Rootfs: fifoRoot})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO passwd: err = %v, want 'not a regular file'", err)
	}
}

func TestCapabilities(t *testing.T) {
	cases := []struct {
		name       string
		add, drop  []string
		privileged bool
		want       []string
		wantErr    string
	}{
		{"defaults", nil, nil, false, DefaultCapabilities(), ""},
		{"privileged", []string{"NET_ADMIN"}, []string{"ALL"}, true, AllCapabilities(), ""},
		{"drop all add one", []string{"net_bind_service"}, []string{"ALL"}, false, []string{"CAP_NET_BIND_SERVICE"}, ""},
		{"drop all", nil, []string{"all"}, false, []string{}, ""},
		{"add all drop one", []string{"ALL"}, []string{"SYS_ADMIN"}, false, without(AllCapabilities(), "CAP_SYS_ADMIN"), ""},
		{"add existing is no duplicate", []string{"CAP_KILL"}, nil, false, DefaultCapabilities(), ""},
		{"unknown", []string{"FLY"}, nil, false, nil, `unknown capability: "CAP_FLY"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Build(Input{ID: testID, Config: &container.Config{Cmd: []string{"x"}},
				HostConfig: &container.HostConfig{CapAdd: tc.add, CapDrop: tc.drop, Privileged: tc.privileged},
				Rootfs:     "/rootfs", RootfsFiles: os.DirFS("testdata/rootfs")})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := s.Process.Capabilities
			if !slices.Equal(c.Bounding, tc.want) || !slices.Equal(c.Effective, tc.want) || !slices.Equal(c.Permitted, tc.want) || len(c.Inheritable) != 0 {
				t.Errorf("caps = %+v, want %q in bounding/effective/permitted", c, tc.want)
			}
		})
	}
}

func without(list []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == drop })
}

func TestPrivileged(t *testing.T) {
	mk := func(priv bool) Input {
		return Input{ID: testID, Config: &container.Config{Cmd: []string{"x"}}, HostConfig: &container.HostConfig{Privileged: priv},
			Rootfs: "/rootfs", RootfsFiles: os.DirFS("testdata/rootfs")}
	}
	normal, err := Build(mk(false))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := Build(mk(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(normal.Linux.MaskedPaths) == 0 || len(normal.Linux.ReadonlyPaths) == 0 {
		t.Error("unprivileged container has no masked or read-only paths")
	}
	if priv.Linux.MaskedPaths != nil || priv.Linux.ReadonlyPaths != nil {
		t.Errorf("privileged container has masked %v / read-only %v paths", priv.Linux.MaskedPaths, priv.Linux.ReadonlyPaths)
	}
	if d := priv.Linux.Resources.Devices; len(d) != 1 || !d[0].Allow || d[0].Access != "rwm" {
		t.Errorf("privileged device rules = %+v, want allow all", d)
	}
	if d := normal.Linux.Resources.Devices; len(d) == 0 || d[0].Allow {
		t.Errorf("default device rules = %+v, want deny first", d)
	}
	for _, m := range priv.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && slices.Contains(m.Options, "ro") {
			t.Errorf("privileged %s is read-only", m.Destination)
		}
	}
	for _, m := range normal.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && !slices.Contains(m.Options, "ro") {
			t.Errorf("unprivileged %s is writable", m.Destination)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	base := Input{ID: testID, Config: &container.Config{Cmd: []string{"x"}}, Rootfs: "/rootfs", RootfsFiles: os.DirFS("testdata/rootfs")}
	relRoot := base
	relRoot.Rootfs = "rootfs"
	relWD := base
	relWD.Config = &container.Config{Cmd: []string{"x"}, WorkingDir: "srv"}
	netCtr := base
	netCtr.HostConfig = &container.HostConfig{NetworkMode: "container:abc"}
	for name, in := range map[string]Input{"relative rootfs": relRoot, "relative workdir": relWD, "container netns": netCtr} {
		if _, err := Build(in); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want invalid argument", name, err)
		}
	}
}
