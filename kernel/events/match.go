package events

import (
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/events"
)

// MatchEvent reports whether m passes f, with dockerd's rules for
// `docker events --filter`: type, scope and event are exact (event becomes a
// prefix match when the filter names exec_create, exec_start or
// health_status, whose actions carry a suffix); container, daemon, plugin,
// volume, network, node, service, secret and config match the actor's id,
// id prefix or "name" attribute, whatever the event's type (so a container
// filter hides image events); image matches the actor id or the image name
// with or without tag; label matches the actor's attributes.
func MatchEvent(f Filters, m events.Message) bool {
	if !matchAction(f, string(m.Action)) || !f.ExactMatch("type", string(m.Type)) || !f.ExactMatch("scope", m.Scope) {
		return false
	}
	for _, key := range []string{"container", "daemon", "plugin", "volume", "network", "node", "service", "secret", "config"} {
		if !f.FuzzyMatch(key, m.Actor.ID) && !f.FuzzyMatch(key, m.Actor.Attributes["name"]) {
			return false
		}
	}
	return matchImage(f, m) && f.MatchKVList("label", m.Actor.Attributes)
}

func matchAction(f Filters, action string) bool {
	for _, v := range []string{"exec_create", "exec_start", "health_status"} {
		if f.fields["event"][v] {
			return f.FuzzyMatch("event", action)
		}
	}
	return f.ExactMatch("event", action)
}

func matchImage(f Filters, m events.Message) bool {
	if !f.Contains("image") {
		return true
	}
	nameAttr := "image"
	if m.Type == events.ImageEventType {
		nameAttr = "name"
	}
	name := m.Actor.Attributes[nameAttr]
	for _, v := range []string{m.Actor.ID, name, familiar(m.Actor.ID), familiar(name)} {
		if v != "" && f.fields["image"][v] {
			return true
		}
	}
	return false
}

// familiar returns an image reference's short name without tag or digest
// ("docker.io/library/busybox:1.36" → "busybox"), or s when it does not parse.
func familiar(s string) string {
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return reference.FamiliarName(ref)
}
