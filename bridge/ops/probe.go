package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// probe looks, with a throw-away consumer, for the first message of stream that matches
// filters (none: every message) at or after a start: sequence startSeq, or the time
// startTime when it is not zero. It returns that message's sequence (0 when there is none)
// and how many matching messages there are from it to the end of the stream.
func probe(ctx context.Context, js jetstream.JetStream, stream string, filters []string, startSeq uint64, startTime time.Time) (first, count uint64, err error) {
	cc := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		HeadersOnly:       true,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute,
		FilterSubjects:    filters,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(startSeq, 1),
	}
	if !startTime.IsZero() {
		t := startTime
		cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, 0, &t
	}
	cons, err := js.CreateConsumer(ctx, stream, cc)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", stream, err)
	}
	info := cons.CachedInfo()
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = js.DeleteConsumer(dctx, stream, info.Name)
	}()
	if info.NumPending == 0 {
		return 0, 0, nil
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", stream, err)
	}
	for m := range batch.Messages() {
		if md, err := m.Metadata(); err == nil {
			first = md.Sequence.Stream
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return 0, 0, fmt.Errorf("read %s: %w", stream, err)
	}
	if first == 0 {
		return 0, 0, fmt.Errorf("read %s: %d matching messages announced, none delivered", stream, info.NumPending)
	}
	return first, info.NumPending, nil
}
