package ops

import (
	"context"
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

// DeadLetter is one message on dlq.<agent>, with what the agent SDK recorded about it.
type DeadLetter struct {
	// Seq is its sequence in the DLQ stream: how the tools name it.
	Seq   uint64 `json:"seq"`
	Agent string `json:"agent"`
	// Reason is the error that dead-lettered it; Attempts the deliveries the agent made.
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	// Time is when it was dead-lettered.
	Time time.Time `json:"time"`
	// Subject, Stream and Sequence locate the original event.
	Subject  string `json:"subject"`
	Stream   string `json:"stream,omitempty"`
	Sequence uint64 `json:"sequence,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Size     int    `json:"size"`
	// Header and Data are filled by ShowDeadLetter (Header also by redrive and purge
	// listings); Data is the original body.
	Header nats.Header `json:"headers,omitempty"`
	Data   []byte      `json:"-"`

	stored time.Time // when the DLQ stream stored it
	msg    Message
}

func deadLetterOf(m Message) DeadLetter {
	h := m.Header
	d := DeadLetter{
		Seq: m.Seq, Agent: h.Get(subjects.HeaderDLQAgent), Reason: h.Get(subjects.HeaderDLQReason),
		Subject: h.Get(subjects.HeaderDLQSubject), Stream: h.Get(subjects.HeaderDLQStream),
		ID: m.ID, Type: m.Type, Size: m.Size, Header: h, Data: m.Data, stored: m.Time, msg: m,
	}
	if d.Agent == "" {
		d.Agent = strings.TrimPrefix(m.Subject, subjects.DLQRoot+".")
	}
	d.Attempts, _ = strconv.Atoi(h.Get(subjects.HeaderDLQAttempts))
	d.Sequence, _ = strconv.ParseUint(h.Get(subjects.HeaderDLQSequence), 10, 64)
	var err error
	if d.Time, err = time.Parse(time.RFC3339Nano, h.Get(subjects.HeaderDLQTime)); err != nil {
		d.Time = m.Time
	}
	return d
}

// DLQFilter selects dead letters; every set field must hold.
type DLQFilter struct {
	// Agent selects one agent's dead letters; "" all agents'.
	Agent string
	// Seqs selects these dead letters by their DLQ sequence.
	Seqs []uint64
	// Subject selects by the original event's subject (a filter, e.g. webhooks.github.>).
	Subject string
	// Reason selects dead letters whose reason contains this text, ignoring case.
	Reason string
	// Since and Until select by the time the message was dead-lettered.
	Since, Until time.Time
	// UpTo, when not 0, ignores dead letters stored after this DLQ sequence (to act on
	// exactly what an earlier listing showed).
	UpTo uint64
}

// narrows reports whether the filter selects by anything more than the agent.
func (f DLQFilter) narrows() bool {
	return len(f.Seqs) > 0 || f.Subject != "" || f.Reason != "" || !f.Since.IsZero() || !f.Until.IsZero()
}

// validate checks the filter alone; errors wrap ErrInvalid.
func (f DLQFilter) validate() error {
	if f.Agent != "" {
		if err := subjects.ValidName(f.Agent); err != nil {
			return fmt.Errorf("%w: agent: %w", ErrInvalid, err)
		}
	}
	if f.Subject != "" {
		if err := ValidFilter(f.Subject); err != nil {
			return fmt.Errorf("--subject: %w", err)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return fmt.Errorf("%w: inverted range: --until is before --since", ErrInvalid)
	}
	if slices.Contains(f.Seqs, 0) {
		return fmt.Errorf("%w: dead letter sequence 0: sequences start at 1", ErrInvalid)
	}
	return nil
}

func (f DLQFilter) match(d DeadLetter) bool {
	return (f.Agent == "" || d.Agent == f.Agent) &&
		(len(f.Seqs) == 0 || slices.Contains(f.Seqs, d.Seq)) &&
		(f.Subject == "" || Match(f.Subject, d.Subject)) &&
		(f.Reason == "" || strings.Contains(strings.ToLower(d.Reason), strings.ToLower(f.Reason))) &&
		(f.Since.IsZero() || !d.Time.Before(f.Since)) &&
		(f.Until.IsZero() || !d.Time.After(f.Until)) &&
		(f.UpTo == 0 || d.Seq <= f.UpTo)
}

// DeadLetters lists the dead letters f selects, oldest first, without their bodies (Size
// still tells the body's length). Sequences in f.Seqs that the DLQ stream does not hold,
// or that belong to another agent than f.Agent, are an error wrapping ErrNotFound.
func DeadLetters(ctx context.Context, js jetstream.JetStream, f DLQFilter) ([]DeadLetter, error) {
	return collect(ctx, js, f, true)
}

// collect reads the dead letters f selects; headersOnly leaves their bodies out.
func collect(ctx context.Context, js jetstream.JetStream, f DLQFilter, headersOnly bool) ([]DeadLetter, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, subjects.StreamDLQ)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: no %s stream", ErrNoStreams, subjects.StreamDLQ)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", subjects.StreamDLQ, err)
	}
	out := []DeadLetter{}
	if len(f.Seqs) > 0 {
		for _, seq := range f.Seqs {
			raw, err := s.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil, fmt.Errorf("%w: dead letter %d: no such message in %s", ErrNotFound, seq, subjects.StreamDLQ)
			}
			if err != nil {
				return nil, fmt.Errorf("dead letter %d: %w", seq, err)
			}
			d := deadLetterOf(fromRaw(subjects.StreamDLQ, raw))
			if f.Agent != "" && d.Agent != f.Agent {
				return nil, fmt.Errorf("%w: dead letter %d is agent %q's, not %q's", ErrNotFound, seq, d.Agent, f.Agent)
			}
			if f.match(d) {
				out = append(out, d)
			}
		}
		slices.SortFunc(out, func(a, b DeadLetter) int { return compareSeq(a.Seq, b.Seq) })
		return slices.CompactFunc(out, func(a, b DeadLetter) bool { return a.Seq == b.Seq }), nil
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", subjects.StreamDLQ, err)
	}
	if info.State.Msgs == 0 {
		return out, nil
	}
	filter := subjects.DLQRoot + ".>"
	if f.Agent != "" {
		filter = subjects.DLQ(f.Agent)
	}
	upper := info.State.LastSeq
	if f.UpTo != 0 {
		upper = min(upper, f.UpTo)
	}
	_, want, err := probe(ctx, js, subjects.StreamDLQ, []string{filter}, info.State.FirstSeq, time.Time{})
	if err != nil || want == 0 {
		return out, err
	}
	err = readRange(ctx, s, filter, info.State.FirstSeq, upper, want, headersOnly, func(m Message) error {
		if d := deadLetterOf(m); f.match(d) {
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ShowDeadLetter returns one dead letter with its headers and body. It returns an error
// wrapping ErrNotFound when the DLQ stream does not hold seq.
func ShowDeadLetter(ctx context.Context, js jetstream.JetStream, seq uint64) (DeadLetter, error) {
	if seq == 0 {
		return DeadLetter{}, fmt.Errorf("%w: dead letter sequence 0: sequences start at 1", ErrInvalid)
	}
	ds, err := collect(ctx, js, DLQFilter{Seqs: []uint64{seq}}, false)
	if err != nil {
		return DeadLetter{}, err
	}
	return ds[0], nil
}

// Where a redriven dead letter goes.
const (
	// ViaAuto sends it to the agent alone when the agent reads its replay subject, and to
	// its original subject otherwise.
	ViaAuto = "auto"
	// ViaAgent sends it to the agent alone (ReplaySubject); ErrNoReplaySubject when the
	// agent does not read it.
	ViaAgent = "agent"
	// ViaSubject sends it to its original subject: every agent reading that subject gets it.
	ViaSubject = "subject"
)

// RedriveOptions say which dead letters go back, and how.
type RedriveOptions struct {
	// Filter selects the dead letters. Selecting all of them (of one agent, or of all
	// agents) takes All as well, so that a forgotten filter never redrives everything.
	Filter DLQFilter
	All    bool
	// Via is ViaAuto (also for ""), ViaAgent or ViaSubject.
	Via string
	// Force redrives dead letters younger than the DLQ stream's duplicate window (see
	// ErrTooRecent).
	Force bool
	// DryRun checks everything and publishes and deletes nothing.
	DryRun bool
	// Progress and Each report progress and every dead letter handled, as for Replay.
	Progress func(done, total uint64)
	Each     func(Redriven)
}

// Redriven reports one dead letter handed back.
type Redriven struct {
	Seq     uint64 `json:"seq"` // in the DLQ stream (deleted unless a dry run)
	Agent   string `json:"agent"`
	Subject string `json:"subject"` // the original's
	To      string `json:"to"`      // where the copy went
	Via     string `json:"via"`     // ViaAgent or ViaSubject
	MsgID   string `json:"msg_id"`
	NewSeq  uint64 `json:"new_seq,omitempty"`
	// AlsoTo names the other agents that read the original subject and get the copy too
	// (Via ViaSubject).
	AlsoTo []string `json:"also_to,omitempty"`
}

// RedriveResult reports a redrive, also one that stopped early.
type RedriveResult struct {
	Total       int        `json:"total"`
	Redriven    []Redriven `json:"redriven"`
	DryRun      bool       `json:"dry_run,omitempty"`
	Interrupted bool       `json:"interrupted,omitempty"`
}

// RedriveMsgID is the Nats-Msg-Id of the copy of the event id redriven from dead letter
// seq: the same for every attempt at redriving that dead letter, so a redrive repeated
// after a failure between publishing and deleting stores one copy.
func RedriveMsgID(seq uint64, id string) string {
	return "redrive:" + strconv.FormatUint(seq, 10) + ":" + id
}

// selectAll refuses an empty selection without all; errors wrap ErrInvalid.
func selectAll(f DLQFilter, all bool, verb string) error {
	if !f.narrows() && !all {
		who := "of every agent"
		if f.Agent != "" {
			who = "of " + f.Agent
		}
		return fmt.Errorf("%w: say which dead letters to %s: their sequences, a filter (--subject, --reason, --since, --until), or --all for all %s", ErrInvalid, verb, who)
	}
	return nil
}

// Redrive hands dead letters back to their agents: for each, in order, it publishes a copy
// of the original message (headers and body as the agent received it, ce-id included,
// marked as a replay, Nats-Msg-Id RedriveMsgID) and then deletes the dead letter.
//
// Everything is checked before the first copy: ErrInvalid (options, an empty selection
// without All), ErrNotFound (sequences), ErrUnknownAgent (an agent without consumers
// left), ErrNoReplaySubject (ViaAgent), ErrTooRecent (a *TooRecentError: a dead letter
// younger than the DLQ stream's duplicate window, unless Force). When ctx ends, Redrive stops after the dead
// letter in hand and returns what it did with an error wrapping ErrInterrupted.
func Redrive(ctx context.Context, js jetstream.JetStream, o RedriveOptions) (RedriveResult, error) {
	res := RedriveResult{DryRun: o.DryRun, Redriven: []Redriven{}}
	switch o.Via {
	case "":
		o.Via = ViaAuto
	case ViaAuto, ViaAgent, ViaSubject:
	default:
		return res, fmt.Errorf("%w: --via %q: want auto, agent or subject", ErrInvalid, o.Via)
	}
	if err := o.Filter.validate(); err != nil {
		return res, err
	}
	if err := selectAll(o.Filter, o.All, "redrive"); err != nil {
		return res, err
	}
	dls, err := collect(ctx, js, o.Filter, false)
	if err != nil {
		return res, err
	}
	res.Total = len(dls)
	dlq, err := js.Stream(ctx, subjects.StreamDLQ)
	if err != nil {
		return res, fmt.Errorf("stream %s: %w", subjects.StreamDLQ, err)
	}
	window := dlq.CachedInfo().Config.Duplicates

	// Plan every dead letter before touching any.
	readers := map[string][]*jetstream.ConsumerInfo{} // stream → agent consumers on it
	replays := map[string]bool{}                      // agent → reads its replay subject
	plans := make([]Redriven, 0, len(dls))
	now := time.Now()
	for _, d := range dls {
		if d.Subject == "" || subjects.StreamFor(d.Subject) == "" {
			return res, fmt.Errorf("%w: dead letter %d names no original subject under a hookbus stream", ErrInvalid, d.Seq)
		}
		if !o.Force && now.Sub(d.stored) < window {
			return res, &TooRecentError{Seq: d.Seq, Agent: d.Agent, Age: now.Sub(d.stored), Window: window, SafeAt: d.stored.Add(window)}
		}
		stream := subjects.StreamFor(d.Subject)
		if _, ok := readers[stream]; !ok {
			if readers[stream], err = agentConsumersOn(ctx, js, stream); err != nil {
				return res, err
			}
		}
		if _, ok := replays[d.Agent]; !ok {
			err := checkReplayConsumer(ctx, js, d.Agent)
			switch {
			case err == nil:
				replays[d.Agent] = true
			case errors.Is(err, ErrNoReplaySubject):
				replays[d.Agent] = false
			default:
				return res, fmt.Errorf("dead letter %d: %w", d.Seq, err)
			}
		}
		r := Redriven{Seq: d.Seq, Agent: d.Agent, Subject: d.Subject, MsgID: RedriveMsgID(d.Seq, d.msg.EventID())}
		switch {
		case o.Via == ViaAgent && !replays[d.Agent]:
			return res, fmt.Errorf("dead letter %d: %w", d.Seq, checkReplayConsumer(ctx, js, d.Agent))
		case o.Via != ViaSubject && replays[d.Agent]:
			r.Via, r.To = ViaAgent, ReplaySubject(d.Agent, d.Subject)
		default:
			r.Via, r.To = ViaSubject, d.Subject
			for _, info := range readers[stream] {
				if info.Config.Durable == d.Agent || slices.Contains(r.AlsoTo, info.Config.Durable) {
					continue
				}
				for _, f := range filters(info.Config) {
					if Match(f, d.Subject) {
						r.AlsoTo = append(r.AlsoTo, info.Config.Durable)
						break
					}
				}
			}
		}
		plans = append(plans, r)
	}
	if o.Progress != nil {
		o.Progress(0, uint64(len(plans)))
	}
	for i, r := range plans {
		if ctx.Err() != nil {
			res.Interrupted = true
			return res, fmt.Errorf("%w: %w", ErrInterrupted, ctx.Err())
		}
		if !o.DryRun {
			d := dls[i]
			m := d.msg
			src := origin{subject: d.Subject, stream: d.Stream, seq: d.Sequence}
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
			ack, err := js.PublishMsg(pctx, copyOf(m, src, r.To, "redrive", r.MsgID))
			if err == nil {
				r.NewSeq = ack.Sequence
				err = dlq.DeleteMsg(pctx, r.Seq)
				if err != nil {
					err = fmt.Errorf("dead letter %d redriven to %s (seq %d) but not deleted: %w", r.Seq, r.To, ack.Sequence, err)
				}
			} else {
				err = fmt.Errorf("dead letter %d: publish to %s: %w", r.Seq, r.To, err)
			}
			cancel()
			if err != nil {
				return res, err
			}
		}
		res.Redriven = append(res.Redriven, r)
		if o.Each != nil {
			o.Each(r)
		}
		if o.Progress != nil {
			o.Progress(uint64(i+1), uint64(len(plans)))
		}
	}
	return res, nil
}

// agentConsumersOn lists the agent consumers of one stream.
func agentConsumersOn(ctx context.Context, js jetstream.JetStream, stream string) ([]*jetstream.ConsumerInfo, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	var out []*jetstream.ConsumerInfo
	l := s.ListConsumers(ctx)
	for info := range l.Info() {
		if isAgentConsumer(info) {
			out = append(out, info)
		}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("consumers of %s: %w", stream, err)
	}
	return out, nil
}

// PurgeOptions say which dead letters to delete for good.
type PurgeOptions struct {
	// Filter and All select as for RedriveOptions.
	Filter DLQFilter
	All    bool
	// DryRun lists what would be purged and deletes nothing.
	DryRun bool
}

// PurgeResult reports a purge.
type PurgeResult struct {
	// Purged lists the dead letters deleted (or, dry, to be deleted).
	Purged []DeadLetter `json:"purged"`
	DryRun bool         `json:"dry_run,omitempty"`
}

// Purge deletes the dead letters o selects. Selecting all of them takes All (ErrInvalid
// otherwise). To delete exactly what an earlier listing showed, set Filter.UpTo to the
// listing's last sequence: dead letters stored since are kept.
func Purge(ctx context.Context, js jetstream.JetStream, o PurgeOptions) (PurgeResult, error) {
	res := PurgeResult{DryRun: o.DryRun, Purged: []DeadLetter{}}
	if err := o.Filter.validate(); err != nil {
		return res, err
	}
	if err := selectAll(o.Filter, o.All, "purge"); err != nil {
		return res, err
	}
	dls, err := DeadLetters(ctx, js, o.Filter)
	if err != nil || len(dls) == 0 || o.DryRun {
		res.Purged = append(res.Purged, dls...)
		return res, err
	}
	s, err := js.Stream(ctx, subjects.StreamDLQ)
	if err != nil {
		return res, fmt.Errorf("stream %s: %w", subjects.StreamDLQ, err)
	}
	if !o.Filter.narrows() {
		// Everything of one agent (or all) up to the last listed: one purge request.
		subject := subjects.DLQRoot + ".>"
		if o.Filter.Agent != "" {
			subject = subjects.DLQ(o.Filter.Agent)
		}
		last := dls[len(dls)-1].Seq
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(last+1)); err != nil {
			return res, fmt.Errorf("purge %s: %w", subject, err)
		}
		res.Purged = dls
		return res, nil
	}
	for _, d := range dls {
		if err := s.DeleteMsg(ctx, d.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return res, fmt.Errorf("delete dead letter %d: %w", d.Seq, err)
		}
		res.Purged = append(res.Purged, d)
	}
	return res, nil
}
