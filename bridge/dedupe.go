package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/bridge/horizon"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"
)

// Horizon remembers stored deliveries for longer than the stream's duplicate window.
//
// The ingress asks Seen before it publishes. Only events the stream acknowledged ever
// become seen, so a publish that failed never marks its id: the provider's retry is
// stored. Concurrent copies of one delivery are made atomic by the stream's Nats-Msg-Id
// window, which the horizon only extends.
type Horizon interface {
	// Seen returns the stream sequence and store time of the event stored under id, and
	// whether there is one. An error means the horizon cannot answer now (503).
	Seen(id string) (seq uint64, at time.Time, ok bool, err error)
	// Stored tells the horizon the ingress stored a new event at seq.
	Stored(seq uint64)
}

// ErrHorizonBehind reports a horizon that does not yet cover every stored event: catching
// up at start, or a tail that fell behind.
var ErrHorizonBehind = errors.New("dedupe horizon catching up with the stream")

// StreamHorizon is the Horizon of a bridge: an on-disk index (package horizon) filled by
// tailing the webhook stream's headers. Every event any bridge stores reaches every
// bridge's index in milliseconds, well inside the duplicate window, so bridges sharing one
// NATS dedupe against each other without a round trip per request; a stored event is
// indexed whoever stored it, and nothing that was not stored ever is.
type StreamHorizon struct {
	ix     *horizon.Index
	js     jetstream.JetStream
	log    zerolog.Logger
	maxLag time.Duration

	indexed  atomic.Uint64 // the last stream sequence in the index
	target   atomic.Uint64 // the stream's last sequence at start: ready once indexed
	ready    atomic.Bool
	stored   atomic.Uint64 // the last sequence this bridge stored
	lagging  atomic.Pointer[error]
	broken   atomic.Pointer[error] // the tail stopped
	entries  chan horizon.Entry
	done     chan struct{}
	stopped  sync.WaitGroup
	close    sync.Once
	closeErr error
}

// HorizonOptions configure a StreamHorizon.
type HorizonOptions struct {
	Dir     string        // index directory
	Horizon time.Duration // the longest horizon of any source
	// MaxLag is how long an event this bridge stored may stay out of the index before
	// Seen refuses (default 30s; keep it under the duplicate window).
	MaxLag time.Duration
}

// OpenHorizon opens the index in o.Dir and starts tailing the webhook stream from where
// the index left it (or, for a new or unreadable index, from o.Horizon ago). Seen answers
// ErrHorizonBehind until the index has caught up with the stream as it was at start.
func OpenHorizon(ctx context.Context, js jetstream.JetStream, o HorizonOptions, log zerolog.Logger) (*StreamHorizon, error) {
	if o.MaxLag <= 0 {
		o.MaxLag = 30 * time.Second
	}
	ix, err := horizon.Open(o.Dir, horizon.Options{Horizon: o.Horizon})
	if errors.Is(err, horizon.ErrCorrupt) {
		log.Warn().Err(err).Str("dir", o.Dir).Msg("dedupe index unreadable; rebuilding it from the stream")
		if err = horizon.Remove(o.Dir); err == nil {
			ix, err = horizon.Open(o.Dir, horizon.Options{Horizon: o.Horizon})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bridge: dedupe index: %w", err)
	}
	h := &StreamHorizon{
		ix:      ix,
		js:      js,
		log:     log,
		maxLag:  o.MaxLag,
		entries: make(chan horizon.Entry, 4096),
		done:    make(chan struct{}),
	}
	stream, err := js.Stream(ctx, subjects.StreamWebhooks)
	if err != nil {
		ix.Close()
		return nil, fmt.Errorf("bridge: dedupe index: %w", err)
	}
	info := stream.CachedInfo()
	epoch := info.Created.UnixNano()
	cfg := jetstream.OrderedConsumerConfig{HeadersOnly: true, NamePrefix: "hookbus_horizon_" + nuid.Next() + "_"}
	ck := ix.Checkpoint()
	if ck.Epoch == epoch && ck.Seq > 0 {
		h.indexed.Store(ck.Seq)
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, ck.Seq+1
	} else {
		start := time.Now().Add(-o.Horizon)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	h.target.Store(info.State.LastSeq)
	h.ready.Store(h.indexed.Load() >= info.State.LastSeq)
	log.Info().Str("dir", o.Dir).Uint64("from", h.indexed.Load()).Uint64("to", info.State.LastSeq).
		Int("entries", ix.Stats().Entries).Msg("dedupe index opened")

	cons, err := js.OrderedConsumer(ctx, subjects.StreamWebhooks, cfg)
	if err == nil {
		var cc jetstream.ConsumeContext
		cc, err = cons.Consume(h.receive, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			log.Debug().Err(err).Msg("dedupe index tail")
		}))
		if err == nil {
			h.stopped.Go(func() { h.write(epoch, cc) })
			h.stopped.Go(h.watch)
			return h, nil
		}
	}
	ix.Close()
	return nil, fmt.Errorf("bridge: dedupe index: tail %s: %w", subjects.StreamWebhooks, err)
}

// receive runs for each stored event, in stream order.
func (h *StreamHorizon) receive(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	e := horizon.Entry{Seq: md.Sequence.Stream, Time: md.Timestamp}
	if id := m.Headers().Get(nats.MsgIdHdr); id != "" {
		e.Key = horizon.KeyOf(id)
	}
	select {
	case h.entries <- e:
	case <-h.done:
	}
}

// write adds what the tail received to the index, in batches, and syncs it now and then.
func (h *StreamHorizon) write(epoch int64, cc jetstream.ConsumeContext) {
	defer cc.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	batch := make([]horizon.Entry, 0, 512)
	for {
		select {
		case <-h.done:
			return
		case <-tick.C:
			if err := h.ix.Sync(); err != nil {
				h.fail(err)
				return
			}
			continue
		case e := <-h.entries:
			batch = append(batch[:0], e)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case e := <-h.entries:
				batch = append(batch, e)
			default:
				break more
			}
		}
		last := batch[len(batch)-1].Seq
		keyed := batch[:0]
		for _, e := range batch {
			if e.Key != (horizon.Key{}) {
				keyed = append(keyed, e)
			}
		}
		if err := h.ix.Add(keyed, horizon.Checkpoint{Seq: last, Epoch: epoch}); err != nil {
			h.fail(err)
			return
		}
		h.indexed.Store(last)
		if !h.ready.Load() && last >= h.target.Load() {
			h.ready.Store(true)
			h.log.Info().Uint64("seq", last).Msg("dedupe index caught up")
		}
	}
}

func (h *StreamHorizon) fail(err error) {
	err = fmt.Errorf("dedupe index: %w", err)
	h.broken.Store(&err)
	h.log.Error().Err(err).Msg("dedupe index stopped; answering 503 until restarted")
}

// Seen implements Horizon.
func (h *StreamHorizon) Seen(id string) (uint64, time.Time, bool, error) {
	if err := h.Err(); err != nil {
		return 0, time.Time{}, false, err
	}
	e, ok, err := h.ix.Lookup(horizon.KeyOf(id))
	return e.Seq, e.Time, ok, err
}

// Stored implements Horizon.
func (h *StreamHorizon) Stored(seq uint64) {
	for {
		old := h.stored.Load()
		if seq <= old || h.stored.CompareAndSwap(old, seq) {
			return
		}
	}
}

// watch notices a tail that falls behind: every quarter second it notes the last sequence
// this bridge stored, and once a noted sequence stays out of the index for MaxLag, Seen
// refuses until the index has it.
func (h *StreamHorizon) watch() {
	type mark struct {
		seq uint64
		at  time.Time
	}
	var marks []mark // oldest first
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-h.done:
			return
		case now := <-tick.C:
			indexed := h.indexed.Load()
			if s := h.stored.Load(); s > indexed && (len(marks) == 0 || marks[len(marks)-1].seq < s) {
				marks = append(marks, mark{s, now})
			}
			n := 0
			for n < len(marks) && marks[n].seq <= indexed {
				n++
			}
			marks = append(marks[:0], marks[n:]...)
			if len(marks) > 0 && now.Sub(marks[0].at) > h.maxLag {
				err := fmt.Errorf("%w: event %d stored %s ago is not indexed yet", ErrHorizonBehind, marks[0].seq, now.Sub(marks[0].at).Round(time.Second))
				if h.lagging.Swap(&err) == nil {
					h.log.Error().Err(err).Msg("dedupe index behind; answering 503")
				}
			} else if h.lagging.Swap(nil) != nil {
				h.log.Info().Msg("dedupe index caught up again")
			}
		}
	}
}

// Err says why Seen cannot answer now, or nil: the index is still catching up, the tail
// stopped, or an event this bridge stored has stayed out of the index for MaxLag.
func (h *StreamHorizon) Err() error {
	if p := h.broken.Load(); p != nil {
		return *p
	}
	if !h.ready.Load() {
		return fmt.Errorf("%w (at %d of %d)", ErrHorizonBehind, h.indexed.Load(), h.target.Load())
	}
	if p := h.lagging.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats reports the index's size and position.
func (h *StreamHorizon) Stats() (horizon.Stats, uint64) { return h.ix.Stats(), h.indexed.Load() }

// Close stops the tail and closes the index, synced. It may be called more than once.
func (h *StreamHorizon) Close() error {
	h.close.Do(func() {
		close(h.done)
		h.stopped.Wait()
		h.closeErr = h.ix.Close()
	})
	return h.closeErr
}
