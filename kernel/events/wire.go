package events

import (
	"encoding/json"

	"github.com/moby/moby/api/types/events"
)

// legacyMessage is the event JSON dockerd sent before API 1.52 dropped the
// deprecated status, id and from fields; the docker CLI and docker-py still
// accept both shapes.
type legacyMessage struct {
	Status   string `json:"status,omitempty"`
	ID       string `json:"id,omitempty"`
	From     string `json:"from,omitempty"`
	Type     events.Type
	Action   events.Action
	Actor    events.Actor
	Scope    string `json:"scope,omitempty"`
	Time     int64  `json:"time,omitempty"`
	TimeNano int64  `json:"timeNano,omitempty"`
}

// MarshalMessage encodes m as one line of GET /events. With legacy set,
// container events carry status (the action), id (the actor id) and from
// (the image) and image events status and id, as dockerd's older API
// versions sent them.
func MarshalMessage(m events.Message, legacy bool) ([]byte, error) {
	if !legacy {
		return json.Marshal(m)
	}
	l := legacyMessage{Type: m.Type, Action: m.Action, Actor: m.Actor, Scope: m.Scope, Time: m.Time, TimeNano: m.TimeNano}
	switch m.Type {
	case events.ContainerEventType:
		l.Status, l.ID, l.From = string(m.Action), m.Actor.ID, m.Actor.Attributes["image"]
	case events.ImageEventType:
		l.Status, l.ID = string(m.Action), m.Actor.ID
	}
	return json.Marshal(l)
}
