package agents

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Event is one message handed to a Handler: a CloudEvent read from the bus, with the hookbus
// envelope headers decoded. Data is the original payload, byte for byte.
type Event struct {
	ID          string    // ce-id; also the Nats-Msg-Id
	Source      string    // ce-source, e.g. "/webhooks/github" or "/agents/triage"
	Type        string    // ce-type, e.g. "issues.opened"
	Time        time.Time // ce-time; zero if absent or unreadable
	ContentType string    // content-type of Data
	// Subject is the NATS subject the event was read from; for a copy sent to this agent
	// alone, read from agents.<agent>.replay.<subject>, the original's subject.
	Subject string
	Data    []byte // payload, unchanged

	DeliveryID    string // the provider's delivery id, for webhooks
	CausationID   string // id of the event whose handling emitted this one; "" for webhooks
	CorrelationID string // id of the first event of the chain; the event's own id for webhooks
	Hops          int    // agent hops since the first event of the chain
	// Replay is true for a copy that a replay or a dead-letter redrive published
	// (Hookbus-Replay), and for everything read from this agent's replay subject. A copy
	// keeps the original's id, so Once skips the steps done for the original and Emit
	// derives the same ids.
	Replay bool

	Stream   string // stream it was read from (AGENTS for a copy sent to this agent alone)
	Sequence uint64 // stream sequence
	Attempt  int    // 1 on the first delivery, 2 on the first redelivery, …

	// Header holds every header of the message, including ones hookbus does not decode.
	Header nats.Header

	agent    *Agent
	readFrom string // the subject the message was read from
	emitted  map[string]int
}

// newEvent decodes a message read from a stream.
func newEvent(a *Agent, m jetstream.Msg) *Event {
	h := m.Headers()
	ev := &Event{
		ID:            h.Get(subjects.HeaderID),
		Source:        h.Get(subjects.HeaderSource),
		Type:          h.Get(subjects.HeaderType),
		ContentType:   h.Get(subjects.HeaderContentType),
		Subject:       m.Subject(),
		Data:          m.Data(),
		DeliveryID:    h.Get(subjects.HeaderDeliveryID),
		CausationID:   h.Get(subjects.HeaderCausationID),
		CorrelationID: h.Get(subjects.HeaderCorrelationID),
		Replay:        h.Get(subjects.HeaderReplay) == "true",
		Header:        h,
		agent:         a,
		readFrom:      m.Subject(),
	}
	if original, ok := a.unwrap(ev.Subject); ok {
		ev.Subject, ev.Replay = original, true
	}
	if ev.ID == "" && ev.Replay {
		// A copy of an event without an envelope: the id its original went by.
		ev.ID = h.Get(subjects.HeaderReplayOf)
	}
	if ev.ID == "" {
		ev.ID = h.Get(subjects.HeaderMsgID)
	}
	if s := h.Get(subjects.HeaderTime); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			ev.Time = t
		}
	}
	if s := h.Get(subjects.HeaderHops); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			ev.Hops = n
		}
	}
	if md, err := m.Metadata(); err == nil {
		ev.Stream = md.Stream
		ev.Sequence = md.Sequence.Stream
		ev.Attempt = int(md.NumDelivered)
		if ev.Time.IsZero() {
			ev.Time = md.Timestamp
		}
	}
	if ev.ID == "" {
		// A message published by hand without an envelope: its stream position identifies it.
		ev.ID = fmt.Sprintf("%s:%d", ev.Stream, ev.Sequence)
	}
	if ev.CorrelationID == "" {
		ev.CorrelationID = ev.ID
	}
	return ev
}

// unwrap returns the original subject of a copy sent to a alone: subject without its
// replay prefix agents.<a>.replay., as often as it has it (a redriven dead letter of an
// older copy may carry it twice). ok is false for any other subject.
func (a *Agent) unwrap(subject string) (original string, ok bool) {
	for {
		if !strings.HasPrefix(subject, a.replays) {
			return subject, ok
		}
		p, err := subjects.Parse(subject)
		if err != nil || p.Kind != "replay" || p.Owner != a.name {
			return subject, ok
		}
		subject, ok = p.Type, true
	}
}

// foreign reports whether ev is a copy sent to another agent alone: read from that agent's
// replay subject through a broad filter, and not this agent's to handle.
func (ev *Event) foreign() bool {
	p, ok := parseAgentSubject(ev.Subject)
	return ok && p.Kind == "replay"
}

// origin locates the event ev stands for: the message itself, or for a copy sent to this
// agent alone, the original it copies, as far as the copy's replay headers tell (sequence
// 0 when they do not).
func (ev *Event) origin() (stream string, seq uint64) {
	if ev.readFrom == ev.Subject {
		return ev.Stream, ev.Sequence
	}
	if ev.Header.Get(subjects.HeaderReplaySubject) == ev.Subject {
		if stream := ev.Header.Get(subjects.HeaderReplayStream); stream != "" {
			seq, _ := strconv.ParseUint(ev.Header.Get(subjects.HeaderReplaySequence), 10, 64)
			return stream, seq
		}
	}
	return subjects.StreamFor(ev.Subject), 0
}

// EmitOption adjusts one emitted event.
type EmitOption func(*nats.Msg)

// WithContentType sets the content type of an emitted event; the default is
// "application/json".
func WithContentType(ct string) EmitOption {
	return func(m *nats.Msg) { m.Header.Set(subjects.HeaderContentType, ct) }
}

// Emitted describes an event stored by Emit.
type Emitted struct {
	ID        string // derived event id
	Subject   string // agents.<agent>.events.<type>
	Sequence  uint64 // sequence in the AGENTS stream
	Duplicate bool   // true when the stream already had this id (the handler ran before)
}

// Emit publishes an event of the handling agent, of type typ (dot-separated, e.g.
// "issue.triaged"), caused by ev, and waits until the stream has stored it. The event's id is
// derived from ev's id, the agent, typ and how many events of typ this handling emitted
// before, so a handler that runs again for the same event emits the same ids and the stream
// stores each once. It carries ev's correlation id, ev's id as causation id, one more hop
// than ev, and ev's traceparent.
//
// Emit returns an error when the stream does not confirm the write (ctx done, NATS
// unavailable); the handler should then return an error so that the event is retried.
func (ev *Event) Emit(ctx context.Context, typ string, data []byte, opts ...EmitOption) (Emitted, error) {
	a := ev.agent
	if a == nil {
		return Emitted{}, fmt.Errorf("%w: Emit on an event not handed out by an agent", ErrConfig)
	}
	if ev.Hops+1 > a.cfg.MaxHops {
		return Emitted{}, Permanent(fmt.Errorf("%w: emitting %q would make hop %d > %d; chain: %s",
			ErrHopLimit, typ, ev.Hops+1, a.cfg.MaxHops, ev.chain()))
	}
	if ev.emitted == nil {
		ev.emitted = make(map[string]int)
	}
	n := ev.emitted[typ]
	ev.emitted[typ] = n + 1
	id := subjects.DerivedID(ev.ID, a.name, typ, n)
	msg := a.envelope(subjects.AgentEvent(a.name, typ), id, typ, data)
	msg.Header.Set(subjects.HeaderCausationID, ev.ID)
	msg.Header.Set(subjects.HeaderCorrelationID, ev.CorrelationID)
	msg.Header.Set(subjects.HeaderHops, strconv.Itoa(ev.Hops+1))
	msg.Header.Set(subjects.HeaderChain, ev.chainFor(a.cfg.MaxHops))
	if tp := ev.Header.Get(subjects.HeaderTraceparent); tp != "" {
		msg.Header.Set(subjects.HeaderTraceparent, tp)
	}
	for _, o := range opts {
		o(msg)
	}
	ctx, cancel := a.publishContext(ctx)
	defer cancel()
	ack, err := a.js.PublishMsg(ctx, msg)
	if err != nil {
		return Emitted{}, fmt.Errorf("agents: emit %s: %w", msg.Subject, err)
	}
	return Emitted{ID: id, Subject: msg.Subject, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// chain is the ids of the events that led to ev, and ev's own, oldest first.
func (ev *Event) chain() string {
	if c := ev.Header.Get(subjects.HeaderChain); c != "" {
		return c + " " + ev.ID
	}
	return ev.ID
}

// chainFor is the chain an event emitted while handling ev carries: at most max ids.
func (ev *Event) chainFor(max int) string {
	c := ev.chain()
	for n := strings.Count(c, " ") + 1; n > max; n-- {
		_, c, _ = strings.Cut(c, " ")
	}
	return c
}

// envelope starts a message of this agent: the CloudEvents attributes, with id as both ce-id
// and Nats-Msg-Id, and a JSON content type.
func (a *Agent) envelope(subject, id, typ string, data []byte) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Data = data
	h := msg.Header
	h.Set(subjects.HeaderSpecVersion, subjects.SpecVersion)
	h.Set(subjects.HeaderID, id)
	h.Set(subjects.HeaderMsgID, id)
	h.Set(subjects.HeaderSource, "/agents/"+a.name)
	h.Set(subjects.HeaderType, typ)
	h.Set(subjects.HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
	h.Set(subjects.HeaderContentType, "application/json")
	return msg
}
