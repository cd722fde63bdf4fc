package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamPublisher stores messages in JetStream with one acknowledgement subscription for
// every request in flight. Each publish carries the reply subject <inbox>.<waiter>.<use>;
// the subscription's handler parses the PubAck and hands it to the waiting request, so a
// publish costs no inbox, no future and no JSON decoding on the way back. A waiter whose
// request gave up is never used again: an acknowledgement arriving late finds nobody and
// is dropped, and one arriving for an earlier use of a waiter is told apart by the use.
//
// The publishes and their acknowledgements travel over a transport: a nats.go connection
// (NewStreamPublisher), or a connection of the publisher's own to an embedded server
// (NewInProcessPublisher).
//
// PublishMsg implements Publisher. After it returns the client no longer holds msg: the
// connection copies what it sends, and nothing is resent behind the caller's back.
type StreamPublisher struct {
	tr     transport
	prefix string // <inbox>.

	mu      sync.Mutex
	free    []*waiter
	waiters map[uint64]*waiter // every waiter not given up, free or in use
	next    uint64
	closed  bool
}

// transport carries publishes to JetStream and brings their acknowledgements back to
// StreamPublisher.deliver.
type transport interface {
	// send publishes msg with the reply subject reply, which the caller may change once
	// send returns; block, when not nil, is msg.Header written as a header block, which a
	// transport may send instead. lost, when not nil, is closed if the acknowledgement of
	// this publish can no longer arrive (its connection failed).
	send(msg *nats.Msg, block []byte, reply string) (lost <-chan struct{}, err error)
	close() error
}

// waiter is one request's place in line for its acknowledgement.
type waiter struct {
	id    uint64
	use   atomic.Uint64 // the publish it waits for; an acknowledgement of another is stale
	reply []byte        // <inbox>.<id>. then the use, rewritten for each publish
	base  int           // len(<inbox>.<id>.)
	ch    chan ackResult
}

type ackResult struct {
	use       uint64 // the publish it answers
	seq       uint64
	duplicate bool
	err       error
}

// noResponderRetry is how long a publish answered "no responders" (no stream leader yet,
// as during an election) waits before it tries again, while its deadline allows.
const noResponderRetry = 250 * time.Millisecond

// errLost is the error of a publish whose connection failed before its acknowledgement
// arrived: the event may or may not be stored.
var errLost = errors.New("bridge: NATS connection lost before the acknowledgement")

// NewStreamPublisher subscribes to the acknowledgements of nc's publishes.
func NewStreamPublisher(nc *nats.Conn) (*StreamPublisher, error) {
	p := &StreamPublisher{prefix: nc.NewInbox() + ".", waiters: map[uint64]*waiter{}}
	sub, err := nc.Subscribe(p.prefix+"*.*", func(m *nats.Msg) {
		p.deliver(m.Subject, m.Data, len(m.Data) == 0 && m.Header.Get("Status") == "503")
	})
	if err != nil {
		return nil, fmt.Errorf("bridge: acknowledgement subscription: %w", err)
	}
	// Acknowledgements are small and each request waits for one: never drop them.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("bridge: acknowledgement subscription: %w", err)
	}
	p.tr = &natsTransport{nc: nc, sub: sub}
	return p, nil
}

// natsTransport publishes through a nats.go connection, which reconnects by itself.
type natsTransport struct {
	nc  *nats.Conn
	sub *nats.Subscription
}

func (t *natsTransport) send(msg *nats.Msg, _ []byte, reply string) (<-chan struct{}, error) {
	msg.Reply = reply
	err := t.nc.PublishMsg(msg)
	msg.Reply = ""
	return nil, err
}

func (t *natsTransport) close() error { return t.sub.Unsubscribe() }

// Close stops routing acknowledgements. Publishes still waiting fail: at their deadline
// with nats.go, at once with the in-process connection.
func (p *StreamPublisher) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return p.tr.close()
}

// PublishMsg stores msg and waits for its acknowledgement until ctx ends. Options are not
// supported: the bridge sets everything it needs as headers.
func (p *StreamPublisher) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if len(opts) > 0 {
		return nil, errors.New("bridge: StreamPublisher takes no publish options")
	}
	seq, dup, err := p.storeBlock(ctx, msg, nil)
	if err != nil {
		return nil, err
	}
	return &jetstream.PubAck{Sequence: seq, Duplicate: dup}, nil
}

// takesBlocks says whether storeBlock writes a header block given to it instead of
// encoding msg.Header, which only the in-process transport does.
func (p *StreamPublisher) takesBlocks() bool {
	_, ok := p.tr.(*inprocTransport)
	return ok
}

// storeBlock is PublishMsg without the allocation of a PubAck. block, when not nil, is
// msg's header block written already (see appendHeader); a transport that does not take
// blocks encodes msg.Header.
func (p *StreamPublisher) storeBlock(ctx context.Context, msg *nats.Msg, block []byte) (seq uint64, duplicate bool, err error) {
	w, err := p.get()
	if err != nil {
		return 0, false, err
	}
	for {
		use := w.use.Add(1)
		w.reply = strconv.AppendUint(w.reply[:w.base], use, 10)
		// The subject aliases the waiter's buffer: the transport copies it while sending,
		// and the buffer changes only at the waiter's next use.
		lost, err := p.tr.send(msg, block, unsafeString(w.reply))
		if err != nil {
			p.drop(w) // nothing should answer it; if something does, nobody listens
			return 0, false, err
		}
		r, err := w.wait(ctx, use, lost)
		if err != nil {
			p.drop(w)
			return 0, false, err
		}
		if errors.Is(r.err, nats.ErrNoResponders) && retryable(ctx) {
			if err := sleep(ctx, noResponderRetry); err != nil {
				p.put(w)
				return 0, false, err
			}
			continue
		}
		p.put(w)
		return r.seq, r.duplicate, r.err
	}
}

// wait returns the answer to the waiter's publish use, or an error when ctx ends or lost
// is closed first.
func (w *waiter) wait(ctx context.Context, use uint64, lost <-chan struct{}) (ackResult, error) {
	for {
		select {
		case r := <-w.ch:
			if r.use == use {
				return r, nil
			} // else a late second answer to an earlier publish
		case <-ctx.Done():
			return ackResult{}, ctx.Err()
		case <-lost:
			select {
			case r := <-w.ch: // it came before the connection failed
				if r.use == use {
					return r, nil
				}
			default:
			}
			return ackResult{}, errLost
		}
	}
}

// retryable says whether ctx leaves time for another publish after noResponderRetry.
func retryable(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ctx.Err() == nil && (!ok || time.Until(d) > noResponderRetry)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *StreamPublisher) get() (*waiter, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nats.ErrConnectionClosed
	}
	if n := len(p.free); n > 0 {
		w := p.free[n-1]
		p.free = p.free[:n-1]
		return w, nil
	}
	p.next++
	w := &waiter{id: p.next, ch: make(chan ackResult, 1)}
	w.reply = strconv.AppendUint(append(w.reply, p.prefix...), w.id, 10)
	w.reply = append(w.reply, '.')
	w.base = len(w.reply)
	p.waiters[w.id] = w
	return w, nil
}

// put returns a waiter whose acknowledgement arrived.
func (p *StreamPublisher) put(w *waiter) {
	p.mu.Lock()
	p.free = append(p.free, w)
	p.mu.Unlock()
}

// drop forgets a waiter whose acknowledgement may still come.
func (p *StreamPublisher) drop(w *waiter) {
	p.mu.Lock()
	delete(p.waiters, w.id)
	p.mu.Unlock()
}

// deliver hands the acknowledgement data, received on subject, to its waiter.
// noResponders says the server answered that nothing listens on the publish's subject.
func (p *StreamPublisher) deliver(subject string, data []byte, noResponders bool) {
	id, use, ok := parseReply(subject[min(len(p.prefix), len(subject)):])
	if !ok {
		return
	}
	p.mu.Lock()
	w := p.waiters[id]
	p.mu.Unlock()
	if w == nil || w.use.Load() != use {
		return
	}
	r := ackResult{use: use}
	if noResponders {
		r.err = nats.ErrNoResponders
	} else {
		r.seq, r.duplicate, r.err = parsePubAck(data)
	}
	select {
	case w.ch <- r:
	default: // a second answer to one publish: the first stands
	}
}

// parseReply reads "<waiter>.<use>".
func parseReply(s string) (id, use uint64, ok bool) {
	dot := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			dot = i
			break
		}
	}
	if dot <= 0 {
		return 0, 0, false
	}
	id, err1 := strconv.ParseUint(s[:dot], 10, 64)
	use, err2 := strconv.ParseUint(s[dot+1:], 10, 64)
	return id, use, err1 == nil && err2 == nil
}

// errBadPubAck reports an acknowledgement that is not one.
var errBadPubAck = errors.New("bridge: unreadable JetStream acknowledgement")

// parsePubAck reads a JetStream publish acknowledgement. The server writes the usual one
// as {"stream":"S","seq":N} (with "domain" and ,"duplicate": true when they apply); that
// form is read by hand, anything else (errors, other shapes) by encoding/json.
func parsePubAck(b []byte) (seq uint64, duplicate bool, err error) {
	if seq, duplicate, ok := scanPubAck(b); ok {
		return seq, duplicate, nil
	}
	var a struct {
		Stream    string `json:"stream"`
		Seq       uint64 `json:"seq"`
		Duplicate bool   `json:"duplicate"`
		Error     *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return 0, false, fmt.Errorf("%w: %w", errBadPubAck, err)
	}
	if a.Error != nil {
		return 0, false, fmt.Errorf("bridge: JetStream refused the event: %s (code %d, error %d)", a.Error.Description, a.Error.Code, a.Error.ErrCode)
	}
	if a.Stream == "" || a.Seq == 0 {
		return 0, false, errBadPubAck
	}
	return a.Seq, a.Duplicate, nil
}

// scanPubAck is the fast path of parsePubAck: it accepts only a flat object of the keys
// stream and domain (string values without escapes), seq (digits) and duplicate (true or
// false), and answers ok=false for anything else.
func scanPubAck(b []byte) (seq uint64, duplicate bool, ok bool) {
	var haveStream, haveSeq bool
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return 0, false, false
	}
	b = b[1 : len(b)-1]
	for len(b) > 0 {
		b = bytes.TrimLeft(b, " ")
		// key
		if len(b) == 0 || b[0] != '"' {
			return 0, false, false
		}
		end := bytes.IndexByte(b[1:], '"')
		if end < 0 {
			return 0, false, false
		}
		key := string(b[1 : 1+end])
		b = bytes.TrimLeft(b[end+2:], " ")
		if len(b) == 0 || b[0] != ':' {
			return 0, false, false
		}
		b = bytes.TrimLeft(b[1:], " ")
		// value, up to the next comma
		var val []byte
		if len(b) > 0 && b[0] == '"' {
			end := bytes.IndexByte(b[1:], '"')
			if end < 0 || !plainString(b[1:1+end]) {
				return 0, false, false
			}
			val, b = b[:end+2], b[end+2:]
		} else {
			end := bytes.IndexByte(b, ',')
			if end < 0 {
				end = len(b)
			}
			val, b = bytes.TrimRight(b[:end], " "), b[end:]
		}
		b = bytes.TrimLeft(b, " ")
		if len(b) > 0 {
			if b[0] != ',' || len(b) == 1 {
				return 0, false, false
			}
			b = b[1:]
		}
		switch key {
		case "stream":
			if haveStream || len(val) < 3 || val[0] != '"' {
				return 0, false, false
			}
			haveStream = true
		case "domain":
			if len(val) < 2 || val[0] != '"' {
				return 0, false, false
			}
		case "seq":
			if haveSeq || len(val) == 0 || len(val) > 19 || (val[0] == '0' && len(val) > 1) {
				return 0, false, false
			}
			for _, c := range val {
				if c < '0' || c > '9' {
					return 0, false, false
				}
				seq = seq*10 + uint64(c-'0')
			}
			haveSeq = true
		case "duplicate":
			switch string(val) {
			case "true":
				duplicate = true
			case "false":
				duplicate = false
			default:
				return 0, false, false
			}
		default:
			return 0, false, false
		}
	}
	return seq, duplicate, haveStream && haveSeq && seq > 0
}

// plainString says whether b is the inside of a JSON string that needs no decoding: no
// escapes, no control characters.
func plainString(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c == '\\' {
			return false
		}
	}
	return true
}
