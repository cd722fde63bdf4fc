package ops

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TailOptions say which events to follow.
type TailOptions struct {
	// Filter selects subjects; "" or ">" is every event of every hookbus stream. A filter
	// whose first token is a wildcard reads every stream ("*.triage.>").
	Filter string
	// Since starts with the events stored since then; zero starts with the next event.
	Since time.Time
	// Buffer bounds the events read and not yet handed to fn; default 256.
	Buffer int
}

// Tail follows the events matching o.Filter as they are stored, with an ordered ephemeral
// consumer per stream (nothing durable is created, nothing is acknowledged, no agent is
// affected), and calls fn for each, one at a time, in the order of each stream. It
// returns nil when ctx ends (a stop, such as Ctrl-C, is the normal end), or fn's error,
// which also stops it. A bad filter is an error wrapping ErrInvalid.
func Tail(ctx context.Context, js jetstream.JetStream, o TailOptions, fn func(Message) error) error {
	filter := o.Filter
	if filter == "" {
		filter = ">"
	}
	if err := ValidFilter(filter); err != nil {
		return err
	}
	per := streamFilters(filter)
	if len(per) == 0 {
		return fmt.Errorf("%w: filter %q matches no hookbus subject (they start with webhooks., agents. or dlq.)", ErrInvalid, filter)
	}
	buf := o.Buffer
	if buf <= 0 {
		buf = 256
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan Message, buf)
	var stops []jetstream.ConsumeContext
	defer func() {
		for _, s := range stops {
			s.Stop()
		}
	}()
	streams := make([]string, 0, len(per))
	for s := range per {
		streams = append(streams, s)
	}
	slices.Sort(streams)
	found := 0
	for _, stream := range streams {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			continue // a stream this server lacks has nothing to follow
		}
		found++
		cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{per[stream]}, DeliverPolicy: jetstream.DeliverNewPolicy}
		if !o.Since.IsZero() {
			t := o.Since
			cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
		}
		cons, err := s.OrderedConsumer(ctx, cc)
		if err != nil {
			return fmt.Errorf("follow %s: %w", stream, err)
		}
		cctx, err := cons.Consume(func(msg jetstream.Msg) {
			select {
			case ch <- fromMsg(msg):
			case <-ctx.Done():
			}
		})
		if err != nil {
			return fmt.Errorf("follow %s: %w", stream, err)
		}
		stops = append(stops, cctx)
	}
	if found == 0 {
		return fmt.Errorf("%w: none of the streams %v exists", ErrNoStreams, streams)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-ch:
			if err := fn(m); err != nil {
				return err
			}
		}
	}
}
