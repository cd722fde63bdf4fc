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
	// Seen returns the stream sequence and store time of the event stored under the id
	// whose key is k (horizon.KeyOf), and whether there is one. An error means the horizon
	// cannot answer now (503).
	Seen(k horizon.Key) (seq uint64, at time.Time, ok bool, err error)
	// Stored tells the horizon the ingress stored a new event, of key k, at seq.
	Stored(k horizon.Key, seq uint64)
	// Failed tells the horizon a publish failed: its event may still land in the stream.
	Failed()
}

// ErrHorizonBehind reports a horizon that does not yet cover every stored event: catching
// up at start, or a tail that fell behind.
var ErrHorizonBehind = errors.New("dedupe horizon catching up with the stream")

// StreamHorizon is the Horizon of a bridge: an on-disk index (package horizon) of the ids
// in the webhook stream. The ingress adds each event it stores as soon as JetStream
// acknowledged it, so a lookup costs no round trip; at start the index catches up with the
// stream by reading its headers from where it left off (or from one horizon ago, for a new
// or unreadable index). With Follow it keeps reading them, so that the events other
// bridges store reach this bridge's index within milliseconds, well inside the duplicate
// window that covers the meantime. Without Follow, a publish that failed (its event may
// still land: the client resends it after a reconnect) makes the index read the stream
// again from a little before the failure, once NATS answers, and Seen refuses meanwhile.
// Nothing that was not stored is ever indexed.
type StreamHorizon struct {
	ix     *horizon.Index
	js     jetstream.JetStream
	log    zerolog.Logger
	maxLag time.Duration
	follow bool
	epoch  int64

	position atomic.Uint64 // the last stream sequence a tail read
	tailTime atomic.Int64  // its store time, Unix nanoseconds
	target   atomic.Uint64 // the stream's last sequence when reading began: ready once read
	ready    atomic.Bool
	stored   atomic.Uint64 // the last sequence this bridge stored
	resync   atomic.Bool   // a publish failed: not ready before a new target is read
	failures atomic.Uint64 // with Follow: how many times the stream was suspected of losing its quorum
	lagging  atomic.Pointer[error]
	broken   atomic.Pointer[error]
	reread   chan time.Time // without Follow: read again from this time
	done     chan struct{}
	stopped  sync.WaitGroup
	close    sync.Once
	closeErr error
}

// HorizonOptions configure a StreamHorizon.
type HorizonOptions struct {
	Dir     string        // index directory
	Horizon time.Duration // the longest horizon of any source
	// Follow keeps reading the stream after catching up, for the events other bridges
	// store (bridges sharing a NATS cluster). Without it the index learns only this
	// bridge's events once caught up: the embedded server, where this bridge is the only
	// one storing webhooks.
	Follow bool
	// MaxLag is, with Follow, how long an event this bridge stored may stay unread by the
	// tail before Seen refuses: the tail is stalled (default 30s; keep it under the
	// duplicate window).
	MaxLag time.Duration
}

// resumeMargin is how far before its checkpoint, or before a failed publish, the index
// reads the stream again: for events acknowledged just before and added just after, and
// for a publish that lands after its request gave up.
const resumeMargin = time.Minute

// OpenHorizon opens the index in o.Dir and starts reading the webhook stream into it from
// where it left off. Seen answers ErrHorizonBehind until the index has caught up with the
// stream as it was at start.
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
	stream, err := js.Stream(ctx, subjects.StreamWebhooks)
	if err != nil {
		ix.Close()
		return nil, fmt.Errorf("bridge: dedupe index: %w", err)
	}
	info := stream.CachedInfo()
	h := &StreamHorizon{
		ix:     ix,
		js:     js,
		log:    log,
		maxLag: o.MaxLag,
		follow: o.Follow,
		epoch:  info.Created.UnixNano(),
		reread: make(chan time.Time, 1),
		done:   make(chan struct{}),
	}
	from := time.Now().Add(-o.Horizon)
	if ck := ix.Checkpoint(); ck.Epoch == h.epoch && ck.Time.After(from) {
		from = ck.Time.Add(-resumeMargin)
	}
	h.tailTime.Store(from.UnixNano())
	log.Info().Str("dir", o.Dir).Time("from", from).Uint64("to", info.State.LastSeq).Bool("follow", o.Follow).
		Int("entries", ix.Stats().Entries).Msg("dedupe index opened")
	t, err := h.read(ctx, from, &info.State)
	if err != nil {
		ix.Close()
		return nil, err
	}
	h.stopped.Go(h.syncLoop)
	if t != nil {
		h.stopped.Go(func() { h.write(t) })
	}
	if o.Follow {
		h.stopped.Go(h.watch)
	} else {
		h.stopped.Go(h.rereadLoop)
	}
	return h, nil
}

// tail reads the stream's headers into the index.
type tail struct {
	cc      jetstream.ConsumeContext
	entries chan horizon.Entry
	done    chan struct{} // write returned
}

// read starts a tail from time from up to the stream's last sequence in state, or returns
// nil (and marks the index ready) when there is nothing to read and no Follow.
func (h *StreamHorizon) read(ctx context.Context, from time.Time, state *jetstream.StreamState) (*tail, error) {
	h.target.Store(state.LastSeq)
	caughtUp := state.Msgs == 0 || state.LastTime.Before(from)
	h.ready.Store(caughtUp)
	if caughtUp && !h.follow {
		return nil, nil
	}
	t := &tail{entries: make(chan horizon.Entry, 4096), done: make(chan struct{})}
	cons, err := h.js.OrderedConsumer(ctx, subjects.StreamWebhooks, jetstream.OrderedConsumerConfig{
		HeadersOnly:   true,
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &from,
		NamePrefix:    "hookbus_horizon_" + nuid.Next() + "_",
	})
	if err == nil {
		t.cc, err = cons.Consume(func(m jetstream.Msg) { t.receive(m) }, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			h.log.Debug().Err(err).Msg("dedupe index tail")
		}))
	}
	if err != nil {
		return nil, fmt.Errorf("bridge: dedupe index: read %s: %w", subjects.StreamWebhooks, err)
	}
	return t, nil
}

// receive runs for each stored event the tail reads, in stream order.
func (t *tail) receive(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	e := horizon.Entry{Seq: md.Sequence.Stream, Time: md.Timestamp}
	if id := m.Headers().Get(nats.MsgIdHdr); id != "" {
		e.Key = horizon.KeyOf(id)
	}
	select {
	case t.entries <- e:
	case <-t.done:
	}
}

// write adds what t reads to the index, in batches, until Close; without Follow, until
// caught up.
func (h *StreamHorizon) write(t *tail) {
	defer t.cc.Stop()
	defer close(t.done)
	batch := make([]horizon.Entry, 0, 512)
	for {
		select {
		case <-h.done:
			return
		case e := <-t.entries:
			batch = append(batch[:0], e)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case e := <-t.entries:
				batch = append(batch, e)
			default:
				break more
			}
		}
		last := batch[len(batch)-1]
		keyed := batch[:0]
		for _, e := range batch {
			if e.Key != (horizon.Key{}) {
				keyed = append(keyed, e)
			}
		}
		if err := h.ix.Add(keyed...); err != nil {
			h.fail(err)
			return
		}
		h.tailTime.Store(last.Time.UnixNano())
		h.position.Store(last.Seq)
		if !h.ready.Load() && last.Seq >= h.target.Load() && !h.resync.Load() {
			h.ready.Store(true)
			h.log.Info().Uint64("seq", last.Seq).Msg("dedupe index caught up")
			if !h.follow {
				return
			}
		}
	}
}

// Failed implements Horizon. Seen refuses until the index has read the stream up to its
// end as of a moment after the failure, when NATS answers again: without Follow a new
// read from a little before now, with Follow the tail, which then has a new target once a
// barrier went through (see watch).
func (h *StreamHorizon) Failed() {
	if h.follow {
		h.suspect(errPublishFailed) // watch sets the tail's new target once a barrier went through
		return
	}
	h.ready.Store(false)
	h.resync.Store(true)
	select {
	case h.reread <- time.Now().Add(-resumeMargin):
	default: // one pending already, from earlier
	}
}

// rereadLoop serves Failed: it waits until the stream answers, then reads it from the
// earliest time asked, and again while new failures come in.
func (h *StreamHorizon) rereadLoop() {
	for {
		var from time.Time
		select {
		case <-h.done:
			return
		case from = <-h.reread:
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			stream, err := h.js.Stream(ctx, subjects.StreamWebhooks)
			var t *tail
			if err == nil {
				h.resync.Store(false) // a failure from now on asks for another read
				state := stream.CachedInfo().State
				t, err = h.read(ctx, from, &state)
			}
			cancel()
			if err == nil {
				if t != nil {
					h.write(t)
				}
				break
			}
			select {
			case <-h.done:
				return
			case <-time.After(time.Second):
			}
		}
		h.log.Info().Time("from", from).Bool("ready", h.ready.Load()).Msg("dedupe index read the stream again after a failed publish")
	}
}

// checkpointEvery is how often the index is made durable with a checkpoint. A sync writes
// every page of the tables dirtied since the last one, and under load new entries dirty
// nearly every page of the newest table within a second: syncing every second wrote a
// 32 MiB table out again each second (about 1.1 KiB of disk writes per 32-byte entry, 0.8×
// what the stream itself wrote) and cost about 7% more CPU per request on a disk store
// than syncing every ten seconds (median of seven interleaved pairs). The price of a
// longer interval is only a longer read at start after a crash: the index resumes from its
// last checkpoint less resumeMargin.
const checkpointEvery = 10 * time.Second

// syncLoop makes the index durable every checkpointEvery, with a checkpoint of when it was
// complete: the store time of the last event the tail read while it reads (catching up,
// or following other bridges), the time of the sync once caught up without Follow.
func (h *StreamHorizon) syncLoop() {
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-tick.C:
			if err := h.checkpoint(); err != nil {
				h.fail(err)
				return
			}
		}
	}
}

func (h *StreamHorizon) checkpoint() error {
	complete := time.Unix(0, h.tailTime.Load())
	if h.ready.Load() && !h.follow {
		complete = time.Now()
	}
	if h.broken.Load() == nil {
		h.ix.SetCheckpoint(horizon.Checkpoint{Seq: h.position.Load(), Time: complete, Epoch: h.epoch})
	}
	return h.ix.Sync()
}

func (h *StreamHorizon) fail(err error) {
	err = fmt.Errorf("dedupe index: %w", err)
	if h.broken.CompareAndSwap(nil, &err) {
		h.log.Error().Err(err).Msg("dedupe index stopped; answering 503 until restarted")
	}
}

// Seen implements Horizon.
func (h *StreamHorizon) Seen(k horizon.Key) (uint64, time.Time, bool, error) {
	if err := h.Err(); err != nil {
		return 0, time.Time{}, false, err
	}
	e, ok, err := h.ix.Lookup(k)
	return e.Seq, e.Time, ok, err
}

// Stored implements Horizon: the event goes into the index at once.
func (h *StreamHorizon) Stored(k horizon.Key, seq uint64) {
	if err := h.ix.AddNew(horizon.Entry{Key: k, Seq: seq, Time: time.Now()}); err != nil {
		h.fail(err) // a later retry might not be found: refuse from now on
	}
	for h.follow {
		old := h.stored.Load()
		if seq <= old || h.stored.CompareAndSwap(old, seq) {
			return
		}
	}
}

// watchInterval is how often a following tail's watch asks the stream how far it is.
const watchInterval = 100 * time.Millisecond

// activeWithin is how recently the stream's leader must have heard from a replica for the
// replica to count towards a quorum: two of JetStream's one-second heartbeats.
const activeWithin = 2 * time.Second

// watch keeps a following tail honest. Every watchInterval it asks the stream for its last
// sequence and, while the tail has not read that far, for the store time of the first
// event the tail has not read. Seen refuses while that event is older than MaxLag, or
// while a sequence noted earlier (the stream's last, or the last this bridge stored) has
// stayed unread for MaxLag: events of other bridges may be missing from the index.
//
// The store time matters on a replicated stream: a leader that lost its quorum still
// accepts publishes, and once the quorum is back they are committed with their original
// time, possibly older than the stream's duplicate window already, so that the server no
// longer holds their ids. The retry of such an event must find it in the index. So when a
// publish fails (Failed), when the stream does not answer, or when its leader has not
// heard from a majority of the replicas lately, Seen refuses until a barrier went through:
// a purge of WebhooksBarrier, which holds nothing, answered only once every publish the
// stream accepted before it is committed or dropped. The tail's new target is then the
// stream's last sequence, read after the barrier.
func (h *StreamHorizon) watch() {
	var marks []mark // oldest first
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		select {
		case <-h.done:
			return
		case now := <-tick.C:
			s := h.stored.Load()
			indexed := h.position.Load()
			unread := h.look(&s, indexed)
			indexed = h.position.Load()
			if !h.ready.Load() && !h.resync.Load() && indexed >= h.target.Load() {
				h.ready.Store(true)
			}
			if s > indexed && (len(marks) == 0 || marks[len(marks)-1].seq < s) {
				marks = append(marks, mark{s, now})
			}
			n := 0
			for n < len(marks) && marks[n].seq <= indexed {
				n++
			}
			marks = append(marks[:0], marks[n:]...)
			if err := behind(now, h.maxLag, indexed, unread, marks); err != nil {
				if h.lagging.Swap(&err) == nil {
					h.log.Error().Err(err).Msg("dedupe index behind; answering 503")
				}
			} else if h.lagging.Swap(nil) != nil {
				h.log.Info().Msg("dedupe index caught up again")
			}
		}
	}
}

// look asks the stream how far it is, for watch: it raises *last to the stream's last
// sequence, returns the first event after indexed (nil when there is none or the stream
// cannot say), and suspects or clears a lost quorum.
func (h *StreamHorizon) look(last *uint64, indexed uint64) *mark {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	stream, err := h.js.Stream(ctx, subjects.StreamWebhooks)
	if err != nil {
		h.suspect(err)
		return nil
	}
	info := stream.CachedInfo()
	if err := quorum(info.Cluster); err != nil {
		h.suspect(err)
		return nil
	}
	*last = max(*last, info.State.LastSeq)
	if h.resync.Load() {
		gen := h.failures.Load()
		err := stream.Purge(ctx, jetstream.WithPurgeSubject(subjects.WebhooksBarrier))
		if err == nil {
			info, err = stream.Info(ctx)
		}
		if err != nil {
			h.log.Debug().Err(err).Msg("dedupe index: barrier not through yet")
			return nil
		}
		h.target.Store(info.State.LastSeq)
		*last = max(*last, info.State.LastSeq)
		if h.failures.Load() == gen {
			h.resync.Store(false)
			h.log.Info().Uint64("target", info.State.LastSeq).Msg("dedupe index: barrier through; reading up to the stream's end")
		}
	}
	if *last <= indexed {
		return nil
	}
	m, err := stream.GetMsg(ctx, indexed+1, jetstream.WithGetMsgSubject(subjects.WebhooksRoot+".>"))
	if err != nil {
		return nil
	}
	return &mark{m.Sequence, m.Time}
}

// errPublishFailed is why a following index suspects the stream after Failed.
var errPublishFailed = errors.New("a publish failed")

// suspect makes Seen refuse until a barrier went through: the stream may hold publishes
// that will be committed late.
func (h *StreamHorizon) suspect(why error) {
	h.ready.Store(false)
	h.failures.Add(1)
	if !h.resync.Swap(true) {
		h.log.Warn().Err(why).Msg("dedupe index: stream may have lost its quorum; answering 503 until a barrier goes through")
	}
}

// quorum returns nil when the stream's leader heard lately from a majority of its group
// (itself included), or an error saying why not; nil too for a stream of one replica.
func quorum(ci *jetstream.ClusterInfo) error {
	if ci == nil || len(ci.Replicas) == 0 {
		return nil
	}
	if ci.Leader == "" {
		return errors.New("stream has no leader")
	}
	n := 1
	for _, r := range ci.Replicas {
		if r != nil && !r.Offline && r.Active < activeWithin {
			n++
		}
	}
	if 2*n <= len(ci.Replicas)+1 {
		return fmt.Errorf("stream leader %s heard from %d of %d replicas in the last %s", ci.Leader, n-1, len(ci.Replicas), activeWithin)
	}
	return nil
}

// mark is a stream sequence and a time: when it was stored, or when it was first seen.
type mark struct {
	seq uint64
	at  time.Time
}

// behind says why a following tail that has read up to indexed is too far behind at now,
// or nil: the first event it has not read (unread, when known) was stored more than maxLag
// ago, or the oldest sequence noted in marks is still unread maxLag after it was noted.
func behind(now time.Time, maxLag time.Duration, indexed uint64, unread *mark, marks []mark) error {
	if unread != nil && unread.seq > indexed && now.Sub(unread.at) > maxLag {
		return fmt.Errorf("%w: event %d stored %s ago is not read yet", ErrHorizonBehind, unread.seq, now.Sub(unread.at).Round(time.Millisecond))
	}
	if len(marks) > 0 && marks[0].seq > indexed && now.Sub(marks[0].at) > maxLag {
		return fmt.Errorf("%w: event %d seen %s ago is not read yet", ErrHorizonBehind, marks[0].seq, now.Sub(marks[0].at).Round(time.Millisecond))
	}
	return nil
}

// Err says why Seen cannot answer now, or nil: the index is still catching up, cannot be
// written, or (with Follow) its tail stalled.
func (h *StreamHorizon) Err() error {
	if p := h.broken.Load(); p != nil {
		return *p
	}
	if !h.ready.Load() {
		return fmt.Errorf("%w (at %d of %d)", ErrHorizonBehind, h.position.Load(), h.target.Load())
	}
	if p := h.lagging.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats reports the index's size and the last stream sequence its tail read.
func (h *StreamHorizon) Stats() (horizon.Stats, uint64) { return h.ix.Stats(), h.position.Load() }

// Close stops the tail and closes the index with a last checkpoint. It may be called more
// than once.
func (h *StreamHorizon) Close() error {
	h.close.Do(func() {
		close(h.done)
		h.stopped.Wait()
		err := h.checkpoint()
		if cerr := h.ix.Close(); err == nil {
			err = cerr
		}
		h.closeErr = err
	})
	return h.closeErr
}
