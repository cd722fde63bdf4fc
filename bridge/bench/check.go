package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrCheckFailed is returned (wrapped) when an acknowledged delivery is missing from the
// stream, stored more than once, or stored with other bytes than were sent.
var ErrCheckFailed = errors.New("bench: stream check failed")

// Check is what the stream holds of one run's deliveries.
type Check struct {
	Acked      int64    `json:"acked"`      // deliveries answered 2xx
	Stored     int64    `json:"stored"`     // messages of this run in the stream
	Missing    int64    `json:"missing"`    // answered 2xx, not in the stream
	Duplicates int64    `json:"duplicates"` // extra copies of a delivery already stored
	Unacked    int64    `json:"unacked"`    // stored but not answered 2xx (timeouts): allowed
	BadBody    int64    `json:"bad_body"`   // stored with other bytes than were sent
	BadID      int64    `json:"bad_id"`     // this run's message with a malformed id
	Scanned    int64    `json:"scanned"`    // messages read from the stream
	Seconds    float64  `json:"seconds"`    // time the scan took
	OK         bool     `json:"ok"`
	Problems   []string `json:"problems,omitempty"` // the first few, for a human
}

func (c *Check) problem(format string, args ...any) {
	if len(c.Problems) < 10 {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
	}
}

// streamStart returns the sequence after the stream's last message: where a scan of what
// comes next begins.
func streamStart(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("bench: stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench: stream %s: %w", stream, err)
	}
	return info.State.LastSeq + 1, nil
}

// scanStream hands fn every message of stream under filter from sequence start on (0: from
// the first), in order, until the last one that was stored when the scan began, a quiet
// spell of idle, or ctx is done.
func scanStream(ctx context.Context, js jetstream.JetStream, stream, filter string, start uint64, headersOnly bool, idle time.Duration, fn func(jetstream.Msg)) (int64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("bench: stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench: stream %s: %w", stream, err)
	}
	last := info.State.LastSeq
	if last == 0 || last < start {
		return 0, nil
	}
	occ := jetstream.OrderedConsumerConfig{HeadersOnly: headersOnly, InactiveThreshold: time.Minute}
	if filter != "" {
		occ.FilterSubjects = []string{filter}
	}
	if start > 1 {
		occ.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		occ.OptStartSeq = start
	}
	cons, err := s.OrderedConsumer(ctx, occ)
	if err != nil {
		return 0, fmt.Errorf("bench: ordered consumer on %s: %w", stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return 0, fmt.Errorf("bench: read %s: %w", stream, err)
	}
	defer it.Stop()
	var n int64
	stalls := 0
	for ctx.Err() == nil {
		m, err := it.Next(jetstream.NextMaxWait(idle))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			// Quiet for idle: the end, unless the consumer still has messages for us (a
			// server too busy to deliver them). A scan that cannot tell fails: counting
			// what it did not read as missing would blame the bridge for the reader.
			pending, err := pendingOf(ctx, cons, max(idle, time.Second))
			switch {
			case err != nil:
				return n, fmt.Errorf("bench: read %s: nothing for %s after %d messages, and no consumer info: %w", stream, idle, n, err)
			case pending == 0:
				return n, nil
			case stalls >= maxStalls:
				return n, fmt.Errorf("bench: read %s: stalled after %d messages with %d pending", stream, n, pending)
			}
			stalls++
			continue
		}
		if err != nil {
			return n, fmt.Errorf("bench: read %s: %w", stream, err)
		}
		stalls = 0
		n++
		fn(m)
		md, err := m.Metadata()
		if err != nil {
			return n, fmt.Errorf("bench: read %s: %w", stream, err)
		}
		if md.NumPending == 0 || md.Sequence.Stream >= last {
			return n, nil
		}
	}
	return n, ctx.Err()
}

// maxStalls is how many idle spells in a row a scan waits while its consumer says messages
// are pending.
const maxStalls = 10

// pendingOf asks the server, waiting at most wait, how many messages cons has still to
// deliver.
func pendingOf(ctx context.Context, cons jetstream.Consumer, wait time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending, nil
}

// checkStream reads what the run stored, from sequence start on, and compares it with the
// ledger: every delivery answered 2xx must be stored exactly once, with the bytes sent.
func checkStream(ctx context.Context, js jetstream.JetStream, t *Target, l *ledger, start uint64) (*Check, error) {
	began := time.Now()
	c := &Check{Acked: l.ackedCount()}
	seen := make([][]uint8, len(l.sent))
	for i, n := range l.sent {
		seen[i] = make([]uint8, n)
	}
	p, err := NewPayload(t.BodySize, t.Secret)
	if err != nil {
		return nil, err
	}
	prefix := t.Source + ":"
	filter := subjects.WebhooksRoot + "." + subjects.Token(t.Source) + ".>"
	scanned, err := scanStream(ctx, js, subjects.StreamWebhooks, filter, start, false, 3*time.Second, func(m jetstream.Msg) {
		raw, consistent := deliveryOf(m.Headers(), prefix)
		id, ok := ParseDeliveryID(raw)
		if !ok || id.Run != l.run {
			return // another run's, or another sender's
		}
		if int(id.Sender) >= len(seen) || id.N >= uint64(len(seen[id.Sender])) {
			c.BadID++
			c.problem("id %q was never sent", raw)
			return
		}
		c.Stored++
		if !consistent {
			c.BadID++
			c.problem("id %q stored under disagreeing id headers %v", raw, m.Headers())
		}
		if !p.Matches(m.Data(), []byte(raw)) {
			c.BadBody++
			c.problem("id %q stored with a body of %d bytes that differs from the one sent", raw, len(m.Data()))
		}
		if seen[id.Sender][id.N] < 255 {
			seen[id.Sender][id.N]++
		}
	})
	c.Scanned = scanned
	c.Seconds = time.Since(began).Seconds()
	if err != nil {
		return c, err
	}
	for s := range seen {
		for n, k := range seen[s] {
			acked := l.isAcked(uint16(s), uint64(n))
			switch {
			case k == 0 && acked:
				c.Missing++
				c.problem("id %s answered 2xx but not stored", DeliveryID{Run: l.run, Sender: uint16(s), N: uint64(n)})
			case k > 1:
				c.Duplicates += int64(k - 1)
				c.problem("id %s stored %d times", DeliveryID{Run: l.run, Sender: uint16(s), N: uint64(n)}, k)
			}
			if k > 0 && !acked {
				c.Unacked++
			}
		}
	}
	c.OK = c.Missing == 0 && c.Duplicates == 0 && c.BadBody == 0 && c.BadID == 0
	return c, nil
}

// deliveryOf returns the delivery id a stored message carries: Hookbus-Delivery-Id, or the
// event id (ce-id, else Nats-Msg-Id) without its "<source>:" prefix. consistent is false
// when the headers present name different deliveries.
func deliveryOf(h nats.Header, prefix string) (id string, consistent bool) {
	consistent = true
	for _, k := range []string{subjects.HeaderDeliveryID, subjects.HeaderID, subjects.HeaderMsgID} {
		v := h.Get(k)
		if v == "" {
			continue
		}
		if k != subjects.HeaderDeliveryID {
			var ok bool
			if v, ok = strings.CutPrefix(v, prefix); !ok {
				consistent = false
				continue
			}
		}
		if id == "" {
			id = v
		} else if v != id {
			consistent = false
		}
	}
	return id, consistent
}
