package ops

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is one stored event as the tools show it.
type Message struct {
	Stream  string    `json:"stream"`
	Seq     uint64    `json:"seq"`
	Subject string    `json:"subject"`
	Time    time.Time `json:"time"` // when the stream stored it
	ID      string    `json:"id,omitempty"`
	Type    string    `json:"type,omitempty"`
	Source  string    `json:"source,omitempty"`
	// Causation and Correlation link the event to its chain (see package subjects).
	Causation   string `json:"causation,omitempty"`
	Correlation string `json:"correlation,omitempty"`
	// Replay is true on a copy that a replay or redrive published.
	Replay bool `json:"replay,omitempty"`
	// Size is the body's length in bytes.
	Size   int         `json:"size"`
	Header nats.Header `json:"headers,omitempty"`
	// Data is the body; empty when only headers were read.
	Data []byte `json:"-"`
}

// newMessage builds a Message from its parts.
func newMessage(stream string, seq uint64, subject string, stored time.Time, h nats.Header, data []byte) Message {
	m := Message{
		Stream: stream, Seq: seq, Subject: subject, Time: stored,
		ID: h.Get(subjects.HeaderID), Type: h.Get(subjects.HeaderType), Source: h.Get(subjects.HeaderSource),
		Causation: h.Get(subjects.HeaderCausationID), Correlation: h.Get(subjects.HeaderCorrelationID),
		Replay: h.Get(subjects.HeaderReplay) == "true",
		Size:   len(data), Header: h, Data: data,
	}
	if n, err := strconv.Atoi(h.Get(nats.MsgSize)); err == nil { // headers-only reads
		m.Size = n
	}
	return m
}

// fromMsg builds a Message from a message read through a consumer.
func fromMsg(msg jetstream.Msg) Message {
	var stream string
	var seq uint64
	var stored time.Time
	if md, err := msg.Metadata(); err == nil {
		stream, seq, stored = md.Stream, md.Sequence.Stream, md.Timestamp
	}
	return newMessage(stream, seq, msg.Subject(), stored, msg.Headers(), msg.Data())
}

// fromRaw builds a Message from a message read by sequence.
func fromRaw(stream string, raw *jetstream.RawStreamMsg) Message {
	return newMessage(stream, raw.Sequence, raw.Subject, raw.Time, raw.Header, raw.Data)
}

// EventID is the id that identifies the event: its ce-id, else its Nats-Msg-Id, else
// "<stream>:<seq>" (how the agent SDK names a message published without an envelope).
func (m Message) EventID() string {
	if m.ID != "" {
		return m.ID
	}
	if id := m.Header.Get(subjects.HeaderMsgID); id != "" {
		return id
	}
	return fmt.Sprintf("%s:%d", m.Stream, m.Seq)
}

// Preview returns the body on one line for a terminal: at most n runes, control
// characters and newlines as spaces, invalid UTF-8 as '?', and "…" when cut.
func Preview(data []byte, n int) string {
	var b strings.Builder
	runes := 0
	for len(data) > 0 && runes < n {
		r, size := utf8.DecodeRune(data)
		data = data[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '?'
		case r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029':
			r = ' '
		}
		b.WriteRune(r)
		runes++
	}
	if len(data) > 0 {
		b.WriteString("…")
	}
	return b.String()
}
