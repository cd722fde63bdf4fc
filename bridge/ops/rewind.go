package ops

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// RewindOptions say which agent to move back and to where. Exactly one of Since and
// FromSeq is set.
type RewindOptions struct {
	// Agent is the agent's name: the durable name of its consumers.
	Agent string
	// Since moves each consumer of the agent back to the first event it reads that was
	// stored at or after this time.
	Since time.Time
	// FromSeq moves the consumer back to this stream sequence. Sequences belong to one
	// stream: with an agent that reads several, Stream says which.
	FromSeq uint64
	// Stream limits the rewind to the agent's consumer on this stream (WEBHOOKS, AGENTS or
	// DLQ); "" means all of them.
	Stream string
	// DryRun checks and reports everything and moves nothing.
	DryRun bool
}

// Rewound reports what a rewind did (or, dry, would do) to one consumer.
type Rewound struct {
	Stream  string   `json:"stream"`
	Filters []string `json:"filters"`
	// From is the stream sequence the consumer delivers from after the rewind; 0 when it
	// was left alone (Note says why).
	From uint64 `json:"from_seq,omitempty"`
	// Redeliver counts the events the agent will handle again: those it reads from From
	// to the end of the stream as it was when the rewind ran.
	Redeliver uint64 `json:"redeliver"`
	// Delivered and AckFloor are the consumer's positions before the rewind.
	Delivered uint64 `json:"was_delivered_seq"`
	AckFloor  uint64 `json:"was_ack_floor_seq"`
	Note      string `json:"note,omitempty"`
}

// RewindResult reports a rewind.
type RewindResult struct {
	Agent     string    `json:"agent"`
	DryRun    bool      `json:"dry_run,omitempty"`
	Consumers []Rewound `json:"consumers"`
}

// Validate checks the options alone. Its errors wrap ErrInvalid.
func (o *RewindOptions) Validate(now time.Time) error {
	switch {
	case o.Agent == "":
		return fmt.Errorf("%w: which agent? (hookbus agents lists them)", ErrInvalid)
	case o.Since.IsZero() == (o.FromSeq == 0):
		return fmt.Errorf("%w: give exactly one of --since, --from-time and --from-seq", ErrInvalid)
	case !o.Since.IsZero() && o.Since.After(now):
		return fmt.Errorf("%w: --since %s is in the future", ErrInvalid, o.Since.Format(time.RFC3339))
	}
	if o.Stream != "" {
		s := strings.ToUpper(o.Stream)
		if !slices.Contains(hookbusStreams, s) {
			return fmt.Errorf("%w: --stream %q: want one of %s", ErrInvalid, o.Stream, strings.Join(hookbusStreams, ", "))
		}
		o.Stream = s
	}
	return nil
}

// Rewind moves the agent's durable consumers back, so that the agent handles again every
// event it reads from that point on; other agents are not touched. It uses JetStream's
// consumer reset: the consumer keeps its name, configuration and filters, only its
// position moves, so a running agent keeps running and receives the events at once, and
// a stopped one receives them when it starts. The events are the stored originals
// (Event.Replay is false; Event.Attempt starts again from 1).
//
// A consumer that reads only the agent's replay subject (ReplayFilter) is left alone
// unless Stream names it: it holds copies sent to the agent once, not events to re-handle.
//
// Before anything moves, every consumer is checked; nothing is changed when one check
// fails. A consumer that has not yet got as far as the rewind point is left alone (there is
// nothing to re-handle), and so is one that reads no event after it. A rewind that would
// jump over events the agent has not yet acknowledged (in a retry backoff, or in flight)
// is refused with ErrUnacked, since a reset forgets them.
//
// Errors: ErrInvalid (options), ErrUnknownAgent, ErrUnacked, and NATS errors; a reset
// refused by a server without the consumer reset API says so.
func Rewind(ctx context.Context, js jetstream.JetStream, o RewindOptions) (RewindResult, error) {
	res := RewindResult{Agent: o.Agent, DryRun: o.DryRun, Consumers: []Rewound{}}
	if err := o.Validate(time.Now()); err != nil {
		return res, err
	}
	infos, err := agentConsumers(ctx, js, o.Agent)
	if err != nil {
		return res, err
	}
	if o.Stream != "" {
		infos = slices.DeleteFunc(infos, func(i *jetstream.ConsumerInfo) bool { return i.Stream != o.Stream })
		if len(infos) == 0 {
			return res, fmt.Errorf("%w %q: it has no consumer on %s", ErrUnknownAgent, o.Agent, o.Stream)
		}
	}
	// A consumer that reads nothing but the agent's replay subject holds one-off copies:
	// re-handling them would replay them again. It moves only when named with Stream.
	var replayOnly []Rewound
	if o.Stream == "" {
		infos = slices.DeleteFunc(infos, func(i *jetstream.ConsumerInfo) bool {
			fs := filters(i.Config)
			other := func(f string) bool { return !Match(ReplayFilter(o.Agent), f) }
			only := len(fs) > 0 && !slices.ContainsFunc(fs, other)
			if only {
				replayOnly = append(replayOnly, Rewound{Stream: i.Stream, Filters: fs, Delivered: i.Delivered.Stream, AckFloor: i.AckFloor.Stream,
					Note: "reads only its replay subject (copies sent to it alone): left alone"})
			}
			return only
		})
		if len(infos) == 0 {
			return res, fmt.Errorf("%w %q: it reads only its replay subject; name the stream (--stream %s) to rewind that", ErrUnknownAgent, o.Agent, subjects.StreamAgents)
		}
	}
	if o.FromSeq != 0 && len(infos) > 1 {
		var names []string
		for _, i := range infos {
			names = append(names, i.Stream)
		}
		return res, fmt.Errorf("%w: agent %q reads %s, and a sequence belongs to one stream: say which with --stream",
			ErrInvalid, o.Agent, strings.Join(names, " and "))
	}

	// Plan every consumer before moving any.
	for _, info := range infos {
		r := Rewound{Stream: info.Stream, Filters: filters(info.Config), Delivered: info.Delivered.Stream, AckFloor: info.AckFloor.Stream}
		if o.FromSeq != 0 {
			s, err := js.Stream(ctx, info.Stream)
			if err != nil {
				return res, fmt.Errorf("stream %s: %w", info.Stream, err)
			}
			si, err := s.Info(ctx)
			if err != nil {
				return res, fmt.Errorf("stream %s: %w", info.Stream, err)
			}
			if o.FromSeq > si.State.LastSeq {
				return res, fmt.Errorf("%w: --from-seq %d is past the last event of %s (%d)", ErrInvalid, o.FromSeq, info.Stream, si.State.LastSeq)
			}
		}
		first, count, err := probe(ctx, js, info.Stream, r.Filters, o.FromSeq, o.Since)
		if err != nil {
			return res, err
		}
		switch {
		case first == 0:
			r.Note = "no event it reads from there on: nothing to re-handle"
		case first > info.Delivered.Stream:
			r.Note = fmt.Sprintf("has not got that far yet (last delivered seq %d, next event it reads: seq %d): nothing to re-handle", info.Delivered.Stream, first)
		default:
			unacked, _, err := probe(ctx, js, info.Stream, r.Filters, info.AckFloor.Stream+1, time.Time{})
			if err != nil {
				return res, err
			}
			if unacked != 0 && unacked < first {
				return res, fmt.Errorf("%w: agent %q has not acknowledged seq %d of %s yet (it is in flight or waiting for a retry); a rewind to seq %d would drop it. Let it finish, or rewind to seq %d or earlier (--stream %s --from-seq %d)",
					ErrUnacked, o.Agent, unacked, info.Stream, first, unacked, info.Stream, unacked)
			}
			r.From, r.Redeliver = first, count
		}
		res.Consumers = append(res.Consumers, r)
	}
	res.Consumers = append(res.Consumers, replayOnly...)
	if o.DryRun {
		return res, nil
	}
	for i, r := range res.Consumers {
		if r.From == 0 {
			continue
		}
		if _, err := js.ResetConsumerToSequence(ctx, r.Stream, o.Agent, r.From); err != nil {
			res.Consumers = res.Consumers[:i]
			return res, fmt.Errorf("reset consumer %s on %s to seq %d: %w (this needs a NATS server with the consumer reset API, as the embedded one has)", o.Agent, r.Stream, r.From, err)
		}
	}
	return res, nil
}
