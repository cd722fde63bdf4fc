package agents

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// How events flow through a running agent:
//
//   - A reader per consumer fetches events ahead, up to MaxAckPending unsettled on the
//     server, and queues them; Concurrency workers take them from the queue in order.
//   - Every event from its arrival until it is settled is on the lease list, which reports
//     progress for it before AckWait passes: an event waiting in the queue behind a slow
//     handler is not redelivered, nor is a handler running longer than AckWait.
//   - On stop, the readers stop fetching, the workers finish what they run, and whatever
//     is still queued, or arrives while the readers drain, is handed back to the server
//     with a nak once the readers are done, never handled or acked.
//   - A reader that finds events of an earlier run unsettled on its consumer recovers
//     first: it has at most Concurrency events out, as many as workers, so that none
//     waits unstarted, until those events are back (see reader.recover).

// delivery is one fetched event, from its arrival to its settlement.
type delivery struct {
	msg jetstream.Msg
	// window is the recovery window the event holds a place in; nil for none.
	window chan struct{}
	// leased is when the server last heard of the event (arrival or progress), in the
	// lease clock's nanoseconds; prev and next link it into the lease list. Guarded by
	// leases.mu.
	leased     int64
	prev, next *delivery
}

// session is the state of one Run: the queue between readers and workers, the lease list,
// and the stop signal: stopping is closed when Run's ctx is done. From then on readers hold
// events for the hand-back instead of queueing them, workers take no more, and
// acknowledgements are confirmed.
type session struct {
	a        *Agent
	queue    chan *delivery
	leases   leases
	stopping <-chan struct{}
	mu       sync.Mutex
	held     []*delivery // fetched or dequeued while stopping: handed back by handBack
}

func newSession(ctx context.Context, a *Agent, consumers int) *session {
	s := &session{
		a: a,
		// Each consumer has at most MaxAckPending events out; the queue holds them all, so
		// a reader never waits for a worker.
		queue:    make(chan *delivery, max(consumers, 1)*a.cfg.MaxAckPending),
		stopping: ctx.Done(),
	}
	s.leases.init()
	return s
}

// isStopping reports whether the session is stopping.
func (s *session) isStopping() bool { return closed(s.stopping) }

// closed reports whether ch is closed; a nil ch never is.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// enqueue hands a fetched event to the workers, or holds it for the hand-back when the
// agent is stopping. window is the recovery window it holds a place in, if any.
func (s *session) enqueue(msg jetstream.Msg, window chan struct{}) {
	d := &delivery{msg: msg, window: window}
	s.leases.add(d)
	if s.isStopping() {
		s.hold(d)
		return
	}
	select {
	case s.queue <- d:
	case <-s.stopping:
		s.hold(d)
	}
}

// hold keeps d, leased, until handBack. Handing it back at once would be wrong while a
// reader still drains: the server would deliver it again straight away to the pull request
// still open, the reader would hand it back again, and so on, each round one more attempt
// against MaxDeliver.
func (s *session) hold(d *delivery) {
	s.mu.Lock()
	s.held = append(s.held, d)
	s.mu.Unlock()
}

// work runs queued events one after the other until the session stops.
func (s *session) work(ctx context.Context) {
	for {
		select {
		case <-s.stopping:
			return
		case d := <-s.queue:
			if s.isStopping() {
				s.hold(d)
				return
			}
			s.a.process(ctx, d.msg, s.stopping)
			s.leases.remove(d)
			s.release(d)
		}
	}
}

// handBack gives back every event still queued or held; called once readers and workers
// are done, so that no pull request is open to take them again.
func (s *session) handBack() {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	for _, d := range held {
		s.leases.remove(d)
		s.giveBack(d)
	}
	for {
		select {
		case d := <-s.queue:
			s.leases.remove(d)
			s.giveBack(d)
		default:
			return
		}
	}
}

// giveBack returns an event that was fetched but not started: the server delivers it again
// at once, to this agent after a restart or to another instance.
func (s *session) giveBack(d *delivery) {
	if err := d.msg.Nak(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		s.a.log.Debug().Err(err).Msg("unstarted event not handed back; the server redelivers it after AckWait")
	}
	s.release(d)
}

// release frees d's place in the recovery window.
func (s *session) release(d *delivery) {
	if d.window != nil {
		<-d.window
		d.window = nil
	}
}

// leases is the list of the events an agent holds, with when the server last heard of each.
type leases struct {
	mu    sync.Mutex
	ring  delivery // sentinel of a circular list
	clock atomic.Int64
	epoch time.Time
}

func (l *leases) init() {
	l.ring.prev, l.ring.next = &l.ring, &l.ring
	l.epoch = time.Now()
}

func (l *leases) add(d *delivery) {
	l.mu.Lock()
	d.leased = l.clock.Load()
	d.prev, d.next = l.ring.prev, &l.ring
	l.ring.prev.next = d
	l.ring.prev = d
	l.mu.Unlock()
}

func (l *leases) remove(d *delivery) {
	l.mu.Lock()
	if d.next != nil {
		d.prev.next, d.next.prev = d.next, d.prev
		d.prev, d.next = nil, nil
	}
	l.mu.Unlock()
}

// keep reports progress, every ackWait/6, for each held event the server last heard of
// ackWait/3 ago or more: the server hears of each event at least every ackWait/2. The
// clock it keeps is coarse, never ahead of the time, so an event is renewed early rather
// than late. It returns a function that stops it.
func (l *leases) keep(ackWait time.Duration) (stop func()) {
	every := max(ackWait/6, time.Millisecond)
	due := int64(ackWait / 3)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		var renew []jetstream.Msg
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := int64(time.Since(l.epoch))
			l.clock.Store(now)
			renew = renew[:0]
			l.mu.Lock()
			for d := l.ring.next; d != &l.ring; d = d.next {
				if now-d.leased >= due {
					d.leased = now
					renew = append(renew, d.msg)
				}
			}
			l.mu.Unlock()
			for i, m := range renew {
				// A message settled meanwhile refuses (ErrMsgAlreadyAckd); nothing to do.
				_ = m.InProgress()
				renew[i] = nil
			}
		}
	}()
	return func() { close(done); <-finished }
}

// reader fetches the events of one consumer for a session.
type reader struct {
	s      *session
	stream string
	cons   jetstream.Consumer
	// it is the iterator that fetches ahead; nil while recovering.
	it jetstream.MessagesContext

	// Recovery: the events unsettled when the agent started (left), all at or below the
	// stream sequence below, and those of them seen again since; window holds a place for
	// each event out, Concurrency of them.
	left   int
	below  uint64
	seen   map[uint64]struct{}
	since  time.Time
	window chan struct{}
}

// newReader starts fetching ahead at once, unless the consumer holds events of an earlier
// run, in which case the reader recovers first.
func (s *session) newReader(stream string, cons jetstream.Consumer) (*reader, error) {
	r := &reader{s: s, stream: stream, cons: cons}
	if info := cons.CachedInfo(); info != nil && info.NumAckPending > 0 {
		r.left, r.below = info.NumAckPending, info.Delivered.Stream
		r.seen = make(map[uint64]struct{}, min(r.left, 1024))
		r.since = time.Now()
		r.window = make(chan struct{}, s.a.cfg.Concurrency)
		return r, nil
	}
	return r, r.fetchAhead()
}

func (r *reader) fetchAhead() error {
	it, err := r.cons.Messages(jetstream.PullMaxMessages(r.s.a.cfg.MaxAckPending))
	if err != nil {
		return err
	}
	r.it = it
	return nil
}

// run fetches until ctx is done: it then drains what has already arrived, handing it back.
func (r *reader) run(ctx context.Context) {
	log := r.s.a.log.With().Str("stream", r.stream).Logger()
	if r.it == nil {
		if !r.recover(ctx) {
			return
		}
		if err := r.fetchAhead(); err != nil {
			log.Error().Err(err).Msg("fetch stopped")
			return
		}
		log.Info().Msg("recovered: fetching ahead")
	}
	stop := context.AfterFunc(ctx, r.it.Drain)
	defer stop()
	for {
		msg, err := r.it.Next()
		switch {
		case err == nil:
			r.s.enqueue(msg, nil)
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			if ctx.Err() == nil {
				log.Error().Err(err).Msg("fetch stopped")
			}
			return
		default:
			// Missed heartbeats, a deleted consumer (the iterator is then closed and the
			// next call says so), a leadership change: the iterator pulls again.
			log.Warn().Err(err).Msg("fetch interrupted")
		}
	}
}

// recover fetches one event at a time, and no more than Concurrency of them out, so that
// none waits unstarted for a worker (on an agent reading one stream): if one of the events
// left by an earlier run kills the process each time, the events after it are not
// delivered with it and their attempt counts do not grow. It returns true once the left
// events are back — all seen again, or, AckWait after the start, the server hands out a
// first delivery, which it does only once no redelivery is due — and false when ctx is
// done first.
func (r *reader) recover(ctx context.Context) bool {
	log := r.s.a.log.With().Str("stream", r.stream).Logger()
	for {
		select {
		case r.window <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		msg, err := r.cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			<-r.window
			switch {
			case ctx.Err() != nil:
				return false
			case errors.Is(err, nats.ErrTimeout):
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, nats.ErrConnectionClosed):
				log.Error().Err(err).Msg("fetch stopped")
				return false
			default:
				log.Warn().Err(err).Msg("fetch interrupted")
				select {
				case <-ctx.Done():
					return false
				case <-time.After(250 * time.Millisecond):
				}
			}
			continue
		}
		back := r.recovered(msg)
		r.s.enqueue(msg, r.window)
		if back {
			return true
		}
	}
}

// recovered notes msg and reports whether the events left by an earlier run are back.
func (r *reader) recovered(msg jetstream.Msg) bool {
	md, err := msg.Metadata()
	if err != nil {
		return false
	}
	if md.Sequence.Stream <= r.below {
		r.seen[md.Sequence.Stream] = struct{}{}
	}
	return len(r.seen) >= r.left ||
		(md.NumDelivered == 1 && time.Since(r.since) > r.s.a.cfg.AckWait+r.s.a.cfg.AckWait/4)
}
