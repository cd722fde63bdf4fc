package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of replayed and redriven copies, besides subjects.HeaderReplay ("true"); they
// are defined in package subjects, which agents share.
const (
	// HeaderReplayOf is the id of the event the copy repeats: its ce-id (which the copy
	// keeps), else its Nats-Msg-Id, else "<stream>:<seq>".
	HeaderReplayOf = subjects.HeaderReplayOf
	// HeaderReplayRun names the replay run that published the copy ("redrive" for a
	// redriven dead letter).
	HeaderReplayRun = subjects.HeaderReplayRun
	// HeaderReplaySubject is the subject the original was stored under; a copy sent to one
	// agent or to another subject keeps it here.
	HeaderReplaySubject = subjects.HeaderReplaySubject
	// HeaderReplayStream and HeaderReplaySequence locate the original.
	HeaderReplayStream   = subjects.HeaderReplayStream
	HeaderReplaySequence = subjects.HeaderReplaySequence
)

// ReplaySubject returns the subject of a copy of an event stored under subject, meant for
// agent alone: "agents.<agent>.replay.<subject>" (subjects.Replay). It lies in the AGENTS
// stream, and only a consumer that reads ReplayFilter(agent) receives it; an agent built on
// the agent SDK reads it by itself and handles the copy under subject.
func ReplaySubject(agent, subject string) string { return subjects.Replay(agent, subject) }

// ReplayFilter returns the filter an agent's consumer reads to receive the copies meant for
// it alone: "agents.<agent>.replay.>" (subjects.Replays).
func ReplayFilter(agent string) string { return subjects.Replays(agent) }

// ReplayOptions describe a replay: which stored events, and where their copies go.
type ReplayOptions struct {
	// Subject is the filter of the events to replay, under webhooks. or agents.
	// ("webhooks.github.>"); one stream per replay.
	Subject string
	// Range bounds the events; it needs a start (see Range.Validate). Time bounds are
	// resolved to stream sequences: the first event stored at or after Since, the last
	// stored at or before Until.
	Range Range
	// ToAgent sends every copy to this agent alone, on its replay subject (ReplaySubject of
	// the original's subject); its consumer on the AGENTS stream must read
	// ReplayFilter(ToAgent), as every agent built on the agent SDK does.
	ToAgent string
	// ToSubject sends every copy to this subject instead of the original's. At most one of
	// ToAgent and ToSubject; neither sends each copy to its original subject, and every
	// agent reading that subject handles it again.
	ToSubject string
	// Run names the run ([A-Za-z0-9_-], at most 64 bytes); a copy's Nats-Msg-Id is derived
	// from it and the original id, so running a replay again with the same Run within the
	// stream's duplicate window stores nothing twice (resuming an interrupted replay). ""
	// makes a new one.
	Run string
	// IncludeReplays also replays copies made by earlier replays; by default they are
	// skipped (their originals are replayed).
	IncludeReplays bool
	// DryRun reads and reports the events and publishes nothing.
	DryRun bool
	// Window bounds the copies published and not yet acknowledged; default 256.
	Window int
	// Progress, when set, is called as events are handled, with the count done and the
	// total in the range.
	Progress func(done, total uint64)
	// Each, when set, is called for every event of the range, in order: after its copy is
	// stored, or at once in a dry run.
	Each func(Replayed)
}

// Replayed is one event of a replay.
type Replayed struct {
	Seq     uint64    `json:"seq"`     // the original's stream sequence
	Subject string    `json:"subject"` // the original's subject
	Time    time.Time `json:"time"`    // when the original was stored
	ID      string    `json:"id"`      // the event id (HeaderReplayOf)
	To      string    `json:"to,omitempty"`
	MsgID   string    `json:"msg_id,omitempty"` // the copy's Nats-Msg-Id
	Size    int       `json:"size"`
	// NewSeq is the copy's sequence in its stream; Duplicate is true when the stream
	// already had it (a repeated run).
	NewSeq    uint64 `json:"new_seq,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Skipped says why no copy was made ("already a replay").
	Skipped string `json:"skipped,omitempty"`
}

// ReplayResult reports a replay, also one that stopped early.
type ReplayResult struct {
	Run    string `json:"run"`
	Stream string `json:"stream"`
	// FirstSeq and LastSeq are the sequences of the first and last event of the range (0:
	// an empty range); while running, LastSeq is the bound that ends the range.
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	// Total events in the range matching Subject; Sent copies stored (Duplicates of them
	// already stored by an earlier run with this Run); Skipped copies of replays.
	Total      uint64 `json:"total"`
	Sent       uint64 `json:"sent"`
	Duplicates uint64 `json:"duplicates,omitempty"`
	Skipped    uint64 `json:"skipped,omitempty"`
	DryRun     bool   `json:"dry_run,omitempty"`
	// Done is the last original sequence handled without a gap before it; after an
	// interruption, resume with --from-seq Done+1 and the same --run.
	Done uint64 `json:"done_seq,omitempty"`
	// Interrupted is true when the context ended first.
	Interrupted bool `json:"interrupted,omitempty"`
}

// validRun checks a run name.
func validRun(run string) error {
	if run == "" || len(run) > 64 || subjects.Token(run) != run {
		return fmt.Errorf("%w: run %q: want 1 to 64 bytes of [A-Za-z0-9_-]", ErrInvalid, run)
	}
	return nil
}

// NewRun returns a fresh run name: the UTC time and a random suffix.
func NewRun() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// ReplayMsgID returns the Nats-Msg-Id of the copy of the event id made by run.
func ReplayMsgID(run, id string) string { return "replay:" + run + ":" + id }

// Validate checks the options alone and fills Run and Window. Its errors wrap ErrInvalid.
func (o *ReplayOptions) Validate() error {
	if o.Subject == "" {
		return fmt.Errorf("%w: --subject is required (e.g. webhooks.github.> or agents.triage.events.>)", ErrInvalid)
	}
	if err := ValidFilter(o.Subject); err != nil {
		return fmt.Errorf("--subject: %w", err)
	}
	switch subjects.StreamFor(o.Subject) {
	case subjects.StreamWebhooks, subjects.StreamAgents:
	case subjects.StreamDLQ:
		return fmt.Errorf("%w: --subject %q: dead letters go back with hookbus dlq redrive", ErrInvalid, o.Subject)
	default:
		return fmt.Errorf("%w: --subject %q: one stream per replay: start it with webhooks.<source> or agents.<agent>", ErrInvalid, o.Subject)
	}
	if err := o.Range.Validate(); err != nil {
		return err
	}
	if o.ToAgent != "" && o.ToSubject != "" {
		return fmt.Errorf("%w: --to-agent and --to-subject exclude each other", ErrInvalid)
	}
	if o.ToAgent != "" {
		if err := subjects.ValidName(o.ToAgent); err != nil {
			return fmt.Errorf("%w: --to-agent: %w", ErrInvalid, err)
		}
	}
	if o.ToSubject != "" {
		if err := ValidSubject(o.ToSubject); err != nil {
			return fmt.Errorf("--to-subject: %w", err)
		}
		if subjects.StreamFor(o.ToSubject) == subjects.StreamDLQ {
			return fmt.Errorf("%w: --to-subject %q: copies on dlq. would pass for dead letters", ErrInvalid, o.ToSubject)
		}
	}
	if o.Run == "" {
		o.Run = NewRun()
	} else if err := validRun(o.Run); err != nil {
		return fmt.Errorf("--run: %w", err)
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	return nil
}

// checkReplayConsumer makes sure agent exists and reads its replay subject.
func checkReplayConsumer(ctx context.Context, js jetstream.JetStream, agent string) error {
	infos, err := agentConsumers(ctx, js, agent)
	if err != nil {
		return err
	}
	for _, info := range infos {
		if info.Stream != subjects.StreamAgents {
			continue
		}
		for _, f := range filters(info.Config) {
			if Overlaps(f, ReplayFilter(agent)) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: agent %q does not read %s. An agent on the agent SDK reads it once restarted on a current SDK; one on another client must add that filter. Or send the copies to their original subjects instead",
		ErrNoReplaySubject, agent, ReplayFilter(agent))
}

// bounds resolves a range to the first and last stream sequence of the events matching
// filter, and counts them; first 0 means none.
func bounds(ctx context.Context, js jetstream.JetStream, stream, filter string, r Range, last uint64) (first, upper, total uint64, err error) {
	fs := []string{filter}
	first, _, err = probe(ctx, js, stream, fs, r.FromSeq, time.Time{})
	if err != nil || first == 0 {
		return 0, 0, 0, err
	}
	if !r.Since.IsZero() {
		byTime, _, err := probe(ctx, js, stream, fs, 0, r.Since)
		if err != nil || byTime == 0 {
			return 0, 0, 0, err
		}
		first = max(first, byTime)
	}
	upper = last
	if r.ToSeq != 0 {
		upper = min(upper, r.ToSeq)
	}
	if !r.Until.IsZero() {
		after, _, err := probe(ctx, js, stream, nil, 0, r.Until.Add(time.Nanosecond))
		if err != nil {
			return 0, 0, 0, err
		}
		if after != 0 {
			upper = min(upper, after-1)
		}
	}
	if first > upper {
		return 0, 0, 0, nil
	}
	_, from, err := probe(ctx, js, stream, fs, first, time.Time{})
	if err != nil {
		return 0, 0, 0, err
	}
	var beyond uint64
	if upper < last {
		if _, beyond, err = probe(ctx, js, stream, fs, upper+1, time.Time{}); err != nil {
			return 0, 0, 0, err
		}
	}
	return first, upper, from - min(from, beyond), nil
}

// origin locates the original of a copy.
type origin struct {
	subject, stream string
	seq             uint64
}

// originOf is where m itself lies; for a copy of a copy, the first original.
func originOf(m Message) origin {
	if m.Replay && m.Header.Get(HeaderReplaySubject) != "" {
		seq, _ := strconv.ParseUint(m.Header.Get(HeaderReplaySequence), 10, 64)
		return origin{m.Header.Get(HeaderReplaySubject), m.Header.Get(HeaderReplayStream), seq}
	}
	return origin{m.Subject, m.Stream, m.Seq}
}

// copyOf builds the copy of m, whose original is o, to publish on subject to with
// Nats-Msg-Id msgID: the same body and envelope (ce-id included), without the Nats-*,
// dead-letter and earlier replay headers, marked as a replay with the headers of this
// package.
func copyOf(m Message, o origin, to, run, msgID string) *nats.Msg {
	out := nats.NewMsg(to)
	out.Data = m.Data
	for k, v := range m.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "nats-") || strings.HasPrefix(lk, "hookbus-dlq-") || strings.HasPrefix(lk, "hookbus-replay") {
			continue
		}
		out.Header[k] = slices.Clone(v)
	}
	out.Header.Set(subjects.HeaderMsgID, msgID)
	out.Header.Set(subjects.HeaderReplay, "true")
	out.Header.Set(HeaderReplayOf, m.EventID())
	out.Header.Set(HeaderReplayRun, run)
	out.Header.Set(HeaderReplaySubject, o.subject)
	if o.stream != "" {
		out.Header.Set(HeaderReplayStream, o.stream)
	}
	if o.seq != 0 {
		out.Header.Set(HeaderReplaySequence, strconv.FormatUint(o.seq, 10))
	}
	return out
}

// Replay publishes copies of the stored events that match o.Subject inside o.Range,
// in stream order, to their own subject, to one agent or to another subject (see
// ReplayOptions), and returns what it did. Everything is validated before the first copy
// is published: ErrInvalid (options), ErrUnknownAgent and ErrNoReplaySubject (ToAgent).
// The range ends at the stream's last event when the replay starts, so copies published
// back into the same stream are never replayed again.
//
// When ctx ends, Replay stops reading, waits for the copies already published to be
// acknowledged, and returns the result so far with an error wrapping ErrInterrupted;
// Result.Done tells where to resume.
func Replay(ctx context.Context, js jetstream.JetStream, o ReplayOptions) (ReplayResult, error) {
	if err := o.Validate(); err != nil {
		return ReplayResult{}, err
	}
	stream := subjects.StreamFor(o.Subject)
	res := ReplayResult{Run: o.Run, Stream: stream, DryRun: o.DryRun}
	if o.ToAgent != "" {
		if err := checkReplayConsumer(ctx, js, o.ToAgent); err != nil {
			return res, err
		}
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return res, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return res, fmt.Errorf("stream %s: %w", stream, err)
	}
	first, upper, total, err := bounds(ctx, js, stream, o.Subject, o.Range, info.State.LastSeq)
	if err != nil || first == 0 {
		return res, err
	}
	res.FirstSeq, res.LastSeq, res.Total = first, upper, total

	var done uint64 // events handled, for progress
	pub := newPublisher(js, o.Window, func(r Replayed, ack *jetstream.PubAck) {
		if ack != nil {
			r.NewSeq, r.Duplicate = ack.Sequence, ack.Duplicate
			res.Sent++
			if ack.Duplicate {
				res.Duplicates++
			}
		}
		done++
		res.Done = r.Seq
		if o.Each != nil {
			o.Each(r)
		}
		if o.Progress != nil {
			o.Progress(done, total)
		}
	})
	if o.Progress != nil {
		o.Progress(0, total)
	}

	err = readRange(ctx, s, o.Subject, first, upper, total, false, func(m Message) error {
		r := Replayed{Seq: m.Seq, Subject: m.Subject, Time: m.Time, ID: m.EventID(), Size: m.Size}
		if m.Replay && !o.IncludeReplays {
			r.Skipped = "already a replay"
			res.Skipped++
			pub.skip(r)
			return nil
		}
		r.To = m.Subject
		switch {
		case o.ToAgent != "":
			// A copy of a copy goes under the first original's subject: the agent handles
			// it as that event.
			r.To = ReplaySubject(o.ToAgent, originOf(m).subject)
		case o.ToSubject != "":
			r.To = o.ToSubject
		}
		r.MsgID = ReplayMsgID(o.Run, r.ID)
		if o.DryRun {
			pub.skip(r)
			return nil
		}
		return pub.publish(ctx, copyOf(m, originOf(m), r.To, o.Run, r.MsgID), r)
	})
	if ferr := pub.flush(); err == nil {
		err = ferr
	}
	if err != nil && ctx.Err() != nil {
		res.Interrupted = true
		return res, fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
	}
	if err == nil && res.Done != 0 {
		res.LastSeq = res.Done // the last event of the range, not the bound that cut it
	}
	return res, err
}

// readRange reads the messages of s matching filter with sequences first to upper, in
// order, with an ordered consumer, and calls fn for each until fn fails or ctx ends. It
// stops after want messages when want is not 0 (the count the caller expects), and reads
// only headers when headersOnly.
func readRange(ctx context.Context, s jetstream.Stream, filter string, first, upper, want uint64, headersOnly bool, fn func(Message) error) error {
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    max(first, 1),
		HeadersOnly:    headersOnly,
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", s.CachedInfo().Config.Name, err)
	}
	var read uint64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			m := fromMsg(msg)
			if m.Seq > upper {
				return nil
			}
			if err := fn(m); err != nil {
				return err
			}
			if read++; m.Seq == upper || read == want {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return nil // nothing left up to upper: the rest was deleted
		}
	}
}

// publisher publishes copies asynchronously, at most window unacknowledged at once, and
// reports every event in order: a copy once its acknowledgement arrives, an event without a
// copy (skipped, or a dry run) once everything before it is reported.
type publisher struct {
	js     jetstream.JetStream
	window int
	queue  []pending
	report func(r Replayed, ack *jetstream.PubAck) // ack nil: no copy was published
}

// pending is a published copy awaiting its acknowledgement, or (f nil) an event without a
// copy waiting for the reports before it.
type pending struct {
	f jetstream.PubAckFuture
	r Replayed
}

// ackTimeout bounds the wait for one acknowledgement.
const ackTimeout = 10 * time.Second

func newPublisher(js jetstream.JetStream, window int, report func(Replayed, *jetstream.PubAck)) *publisher {
	return &publisher{js: js, window: max(window, 1), report: report}
}

// skip reports an event that gets no copy, after the ones queued before it.
func (p *publisher) skip(r Replayed) {
	if len(p.queue) == 0 {
		p.report(r, nil)
		return
	}
	p.queue = append(p.queue, pending{r: r})
}

// publish sends m once fewer than window copies await their acknowledgement.
func (p *publisher) publish(ctx context.Context, m *nats.Msg, r Replayed) error {
	for len(p.queue) >= p.window {
		if err := p.settle(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := p.js.PublishMsgAsync(m)
	if err != nil {
		return fmt.Errorf("publish %s: %w", m.Subject, err)
	}
	p.queue = append(p.queue, pending{f: f, r: r})
	return nil
}

// settle waits for the oldest entry and reports it. After a failed publish the entries
// behind it are dropped unreported: the result stops at the last event before the gap.
func (p *publisher) settle() error {
	e := p.queue[0]
	p.queue = p.queue[1:]
	if e.f == nil {
		p.report(e.r, nil)
		return nil
	}
	timer := time.NewTimer(ackTimeout)
	defer timer.Stop()
	select {
	case ack := <-e.f.Ok():
		p.report(e.r, ack)
		return nil
	case err := <-e.f.Err():
		p.queue = nil
		return fmt.Errorf("publish %s: %w", e.f.Msg().Subject, err)
	case <-timer.C:
		p.queue = nil
		return fmt.Errorf("publish %s: no acknowledgement within %s", e.f.Msg().Subject, ackTimeout)
	}
}

// flush settles everything queued.
func (p *publisher) flush() error {
	for len(p.queue) > 0 {
		if err := p.settle(); err != nil {
			return err
		}
	}
	return nil
}
