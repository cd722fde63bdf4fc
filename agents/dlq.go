package agents

import (
	"context"
	"strconv"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxReason bounds the error text kept in a dead letter's header.
const maxReason = 1024

// deadLetter stores msg on dlq.<agent> with its original body and headers plus the reason,
// the attempt count, the time and where it came from, then terminates it so it is never
// redelivered. The dead letter's id is derived from the event id and the message's place,
// so a dead-lettering that is itself retried stores one dead letter. It returns the publish
// error, in which case the message is left to be redelivered.
func (a *Agent) deadLetter(ev *Event, msg jetstream.Msg, reason error) error {
	h := make(nats.Header, len(ev.Header)+8)
	for k, v := range ev.Header {
		h[k] = append([]string(nil), v...)
	}
	text := reason.Error()
	if len(text) > maxReason {
		text = text[:maxReason]
	}
	// Keyed by the message's place too: a redriven copy (same event id) that fails again
	// must get a dead letter of its own, not be dropped as a duplicate of the first.
	h.Set(subjects.HeaderMsgID, "dlq:"+a.name+":"+ev.Stream+":"+strconv.FormatUint(ev.Sequence, 10)+":"+ev.ID)
	h.Set(subjects.HeaderDLQReason, printable(text))
	h.Set(subjects.HeaderDLQAttempts, strconv.Itoa(ev.Attempt))
	h.Set(subjects.HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	// Where the event lies: for a copy sent to the agent alone, its original, so that a
	// redrive hands it back under the original subject.
	stream, seq := ev.origin()
	h.Set(subjects.HeaderDLQSubject, ev.Subject)
	h.Set(subjects.HeaderDLQStream, stream)
	h.Set(subjects.HeaderDLQSequence, strconv.FormatUint(seq, 10))
	h.Set(subjects.HeaderDLQAgent, a.name)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.PublishTimeout)
	defer cancel()
	if _, err := a.js.PublishMsg(ctx, &nats.Msg{Subject: subjects.DLQ(a.name), Header: h, Data: ev.Data}); err != nil {
		return err
	}
	return msg.TermWithReason("dead-lettered: " + text)
}

// printable replaces bytes that cannot stand in a NATS header value.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c == 0x7f {
			b[i] = ' '
		}
	}
	return string(b)
}
