package events

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/sdk/errdefs"
	"github.com/moby/moby/api/types/events"
)

func TestParseFiltersBothForms(t *testing.T) {
	for _, in := range []string{
		`{"label":{"a=b":true,"c":true},"status":{"exited":true}}`,
		`{"label":["a=b","c"],"status":["exited"]}`,
	} {
		f, err := ParseFilters(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := f.Get("label"); len(got) != 2 || got[0] != "a=b" || got[1] != "c" {
			t.Fatalf("%s: label %v", in, got)
		}
		if !f.ExactMatch("status", "exited") || f.ExactMatch("status", "running") || f.Len() != 2 {
			t.Fatalf("%s: status not parsed", in)
		}
	}
	for _, in := range []string{"", "  ", "{}"} {
		f, err := ParseFilters(in)
		if err != nil || f.Len() != 0 || !f.ExactMatch("anything", "x") {
			t.Fatalf("%q: %v", in, err)
		}
	}
	for _, in := range []string{"{", `{"a":"b"}`, `[1]`, `{"a":[1]}`} {
		if _, err := ParseFilters(in); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("%q accepted: %v", in, err)
		}
	}
}

func TestFilterMatchers(t *testing.T) {
	f := NewFilters([2]string{"name", "^web"}, [2]string{"id", "abc"}, [2]string{"label", "env=prod"}, [2]string{"label", "team"})
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"match regexp", f.Match("name", "web-1"), true},
		{"match regexp anchored", f.Match("name", "myweb"), false},
		{"match absent key", f.Match("status", "x"), true},
		{"fuzzy prefix", f.FuzzyMatch("id", "abcdef"), true},
		{"fuzzy not prefix", f.FuzzyMatch("id", "xabc"), false},
		{"exact", f.ExactMatch("id", "abc"), true},
		{"exact not prefix", f.ExactMatch("id", "abcd"), false},
		{"kv all", f.MatchKVList("label", map[string]string{"env": "prod", "team": "x"}), true},
		{"kv wrong value", f.MatchKVList("label", map[string]string{"env": "dev", "team": "x"}), false},
		{"kv missing key", f.MatchKVList("label", map[string]string{"env": "prod"}), false},
		{"bad regexp exact only", NewFilters([2]string{"name", "a("}).Match("name", "a("), true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v", tt.name, tt.got)
		}
	}
	if err := f.Validate("name", "id", "label"); err != nil {
		t.Error(err)
	}
	if err := f.Validate("name", "id"); !errors.Is(err, errdefs.ErrInvalidArgument) || err.Error() != "invalid filter 'label': invalid argument" {
		t.Errorf("validate: %v", err)
	}
}

func ctrEvent(action events.Action, id, name, image string, labels map[string]string) events.Message {
	attrs := map[string]string{"name": name, "image": image}
	for k, v := range labels {
		attrs[k] = v
	}
	return events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: id, Attributes: attrs}, Scope: "local"}
}

func TestMatchEvent(t *testing.T) {
	id := "4f2a9c0b7e1d4f2a9c0b7e1d4f2a9c0b7e1d4f2a9c0b7e1d4f2a9c0b7e1d0000"
	start := ctrEvent(events.ActionStart, id, "web", "busybox:latest", map[string]string{"app": "shop"})
	execStart := ctrEvent("exec_start: sh -c date", id, "web", "busybox", nil)
	health := ctrEvent(events.ActionHealthStatusHealthy, id, "web", "busybox", nil)
	pull := events.Message{Type: events.ImageEventType, Action: events.ActionPull, Actor: events.Actor{ID: "docker.io/library/busybox:latest", Attributes: map[string]string{"name": "docker.io/library/busybox:latest"}}, Scope: "local"}
	netConnect := events.Message{Type: events.NetworkEventType, Action: events.ActionConnect, Actor: events.Actor{ID: "n1id", Attributes: map[string]string{"name": "front", "container": id}}, Scope: "local"}
	tests := []struct {
		name    string
		filters string
		m       events.Message
		want    bool
	}{
		{"no filters", ``, start, true},
		{"type match", `{"type":{"container":true}}`, start, true},
		{"type mismatch", `{"type":{"container":true}}`, pull, false},
		{"event exact", `{"event":{"start":true}}`, start, true},
		{"event exact no prefix", `{"event":{"sta":true}}`, start, false},
		{"event exec_start fuzzy", `{"event":{"exec_start":true}}`, execStart, true},
		{"event exact without fuzzy key", `{"event":{"exec":true}}`, execStart, false},
		{"event health fuzzy", `{"event":{"health_status":true}}`, health, true},
		{"event two values", `{"event":{"die":true,"start":true}}`, start, true},
		{"container by name", `{"container":{"web":true}}`, start, true},
		{"container by full id", `{"container":{"` + id + `":true}}`, start, true},
		{"container by id prefix", `{"container":{"4f2a9c0b":true}}`, start, true},
		{"container other", `{"container":{"db":true}}`, start, false},
		{"container filter hides image events", `{"container":{"web":true}}`, pull, false},
		{"image attr with tag", `{"image":{"busybox:latest":true}}`, start, true},
		{"image attr without tag", `{"image":{"busybox":true}}`, start, true},
		{"image other", `{"image":{"alpine":true}}`, start, false},
		{"image event by familiar name", `{"image":{"busybox":true}}`, pull, true},
		{"label key", `{"label":{"app":true}}`, start, true},
		{"label key=value", `{"label":{"app=shop":true}}`, start, true},
		{"label wrong value", `{"label":{"app=blog":true}}`, start, false},
		{"label legacy list", `{"label":["app=shop"]}`, start, true},
		{"network by name", `{"network":{"front":true}}`, netConnect, true},
		{"network filter hides containers", `{"network":{"front":true}}`, start, false},
		{"scope local", `{"scope":{"local":true}}`, start, true},
		{"scope swarm", `{"scope":{"swarm":true}}`, start, false},
		{"and across keys", `{"type":{"container":true},"event":{"die":true}}`, start, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilters(tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			if got := MatchEvent(f, tt.m); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"1700000000", time.Unix(1700000000, 0), false},
		{"1700000000.000000001", time.Unix(1700000000, 1), false},
		{"1700000000.5", time.Unix(1700000000, 500000000), false},
		{"2026-01-02T03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), false},
		{"2026-01-02T03:04:05.25+01:00", time.Date(2026, 1, 2, 2, 4, 5, 250000000, time.UTC), false},
		{"10m", time.Time{}, true},
		{"1700000000.", time.Time{}, true},
		{"1700000000.1234567890", time.Time{}, true},
		{"17x", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTimestamp(tt.in)
		if tt.bad {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("%q: want invalid, got %v %v", tt.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%q: got %v %v, want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestMarshalMessage(t *testing.T) {
	m := ctrEvent(events.ActionDie, "abc", "web", "busybox", map[string]string{"exitCode": "0"})
	m.Time, m.TimeNano = 1700000000, 1700000000123456789
	plain, _ := MarshalMessage(m, false)
	want := `{"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"0","image":"busybox","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}`
	if string(plain) != want {
		t.Fatalf("plain:\n%s\nwant\n%s", plain, want)
	}
	legacy, _ := MarshalMessage(m, true)
	want = `{"status":"die","id":"abc","from":"busybox",` + want[1:]
	if string(legacy) != want {
		t.Fatalf("legacy:\n%s\nwant\n%s", legacy, want)
	}
	vol := events.Message{Type: events.VolumeEventType, Action: events.ActionCreate, Actor: events.Actor{ID: "v"}}
	if b, _ := MarshalMessage(vol, true); string(b) != `{"Type":"volume","Action":"create","Actor":{"ID":"v","Attributes":null}}` {
		t.Fatalf("volume legacy: %s", b)
	}
}
