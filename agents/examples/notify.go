package examples

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hookbus/hookbus/agents"
	"github.com/rs/zerolog"
)

// SentEvent is the type Notify emits: agents.notify.events.message.sent.
const SentEvent = "message.sent"

// Message is the payload of a SentEvent: the notification Notify would send.
type Message struct {
	Channel  string `json:"channel"`
	Text     string `json:"text"`
	Priority string `json:"priority"`
}

// Notify turns triaged issues into chat notifications. It logs the message it would send
// (to a chat service, in a real deployment) and emits message.sent.
type Notify struct {
	// Channel is where messages go; "#triage" when empty.
	Channel string
}

var _ agents.Handler = Notify{}

// NotifyConfig is the agent configuration of Notify, posting to channel.
func NotifyConfig(channel string) agents.Config {
	return agents.Config{Name: "notify", Subjects: []string{"agents.triage.events.>"}, Handler: Notify{Channel: channel}}
}

// Handle composes one notification from an issue.triaged event. Events of other types from
// triage are acknowledged without a message.
func (n Notify) Handle(ctx context.Context, ev *agents.Event) error {
	log := zerolog.Ctx(ctx)
	if ev.Type != TriagedEvent {
		return nil
	}
	var t Triaged
	if err := json.Unmarshal(ev.Data, &t); err != nil {
		log.Warn().Err(err).Msg("unreadable issue.triaged payload; skipped")
		return nil
	}
	ch := n.Channel
	if ch == "" {
		ch = "#triage"
	}
	m := Message{
		Channel:  ch,
		Priority: t.Priority,
		Text:     fmt.Sprintf("[%s] %s#%d %s (%s) %s", t.Priority, t.Repository, t.Number, t.Title, t.Action, t.URL),
	}
	out, err := json.Marshal(m)
	if err != nil {
		return err
	}
	em, err := ev.Emit(ctx, SentEvent, out)
	if err != nil {
		return err
	}
	log.Info().Str("channel", m.Channel).Str("text", m.Text).Str("emitted", em.ID).Bool("duplicate", em.Duplicate).
		Msg("would send message")
	return nil
}
