package kernel

import (
	"encoding/base64"
	"errors"
	"testing"

	mobycontainer "github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/sdk/errdefs"
)

func TestNormalizeHostConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       mobycontainer.HostConfig
		wantMode string
		wantErr  bool
		warnings int
	}{
		{name: "default network is a private loopback-only namespace", in: mobycontainer.HostConfig{NetworkMode: "default"}, wantMode: "none"},
		{name: "empty network mode", in: mobycontainer.HostConfig{}, wantMode: "none"},
		{name: "bridge warns", in: mobycontainer.HostConfig{NetworkMode: "bridge"}, wantMode: "none", warnings: 1},
		{name: "host", in: mobycontainer.HostConfig{NetworkMode: "host"}, wantMode: "host"},
		{name: "none", in: mobycontainer.HostConfig{NetworkMode: "none"}, wantMode: "none"},
		{name: "user network not supported yet", in: mobycontainer.HostConfig{NetworkMode: "mynet"}, wantErr: true},
		{name: "autoremove with restart policy", in: mobycontainer.HostConfig{AutoRemove: true, RestartPolicy: mobycontainer.RestartPolicy{Name: "always"}}, wantErr: true},
		{name: "unknown restart policy", in: mobycontainer.HostConfig{RestartPolicy: mobycontainer.RestartPolicy{Name: "sometimes"}}, wantErr: true},
		{name: "binds not supported yet", in: mobycontainer.HostConfig{Binds: []string{"/a:/b"}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			out, warnings, err := normalizeHostConfig(&in)
			if tc.wantErr {
				if err == nil || !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("err = %v, want an invalid-argument error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out.NetworkMode) != tc.wantMode {
				t.Errorf("NetworkMode = %q, want %q", out.NetworkMode, tc.wantMode)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings = %q, want %d", warnings, tc.warnings)
			}
			if out.LogConfig.Type == "" || out.RestartPolicy.Name == "" {
				t.Errorf("defaults not filled: %+v", out)
			}
			if &in == out {
				t.Error("the request's HostConfig was modified in place")
			}
		})
	}
}

func TestStartErrorClassAndExitCode(t *testing.T) {
	for _, tc := range []struct {
		msg       string
		wantCode  int
		wantClass error
	}{
		{`exec: "nope": executable file not found in $PATH: unknown`, 127, errdefs.ErrInvalidArgument},
		{`exec: "/etc": permission denied: unknown`, 126, errdefs.ErrInvalidArgument},
		{`something else broke`, 128, nil},
	} {
		err := startError(errors.New(tc.msg))
		if got := exitCodeFor(err); got != tc.wantCode {
			t.Errorf("%q: exit code %d, want %d", tc.msg, got, tc.wantCode)
		}
		if tc.wantClass != nil && !errors.Is(err, tc.wantClass) {
			t.Errorf("%q: error %v is not %v", tc.msg, err, tc.wantClass)
		}
		if errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("%q: a start error must never be a 404", tc.msg)
		}
	}
	// A runtime not-found (task vanished) must not become a 404 either: the
	// docker CLI would take it for a missing image.
	if err := startError(errdefs.ErrNotFound); errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("startError kept the not-found class")
	}
}

func TestDecodeAuth(t *testing.T) {
	js := `{"username":"u","password":"p","serveraddress":"127.0.0.1:5000"}`
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding} {
		a, err := decodeAuth(enc.EncodeToString([]byte(js)))
		if err != nil {
			t.Fatal(err)
		}
		if a.Username != "u" || a.Password != "p" || a.ServerAddress != "127.0.0.1:5000" {
			t.Errorf("decoded %+v", a)
		}
	}
	if _, err := decodeAuth("!!!"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad header: err = %v, want invalid argument", err)
	}
}

func TestParseStopSignal(t *testing.T) {
	for in, want := range map[string]int{"": 15, "SIGTERM": 15, "INT": 2, "9": 9, "SIGQUIT": 3} {
		got, err := parseStopSignal(in)
		if err != nil || int(got) != want {
			t.Errorf("parseStopSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseStopSignal("SIGNOPE"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("unknown signal: err = %v", err)
	}
}
