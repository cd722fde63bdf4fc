package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestParsePubAck(t *testing.T) {
	for _, c := range []struct {
		in      string
		seq     uint64
		dup     bool
		wantErr bool
	}{
		{in: `{"stream":"WEBHOOKS","seq":1}`, seq: 1},
		{in: `{"stream":"WEBHOOKS","seq":18446744073709551615}`, seq: 18446744073709551615},
		{in: `{"stream":"WEBHOOKS","seq":42,"duplicate": true}`, seq: 42, dup: true},
		{in: `{"stream":"WEBHOOKS","domain":"hub","seq":7}`, seq: 7},
		{in: ` { "stream" : "A,B" , "seq" : 9 , "duplicate" : false } `, seq: 9},
		// Shapes the fast path leaves to encoding/json.
		{in: `{"stream":"WEBHOOKS","seq":3,"batch":"b","count":2}`, seq: 3},
		{in: `{"seq":5,"stream":"W\u0045BHOOKS"}`, seq: 5},
		// Refusals and garbage.
		{in: `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"WEBHOOKS","seq":0}`, wantErr: true},
		{in: `{"stream":"WEBHOOKS","seq":0}`, wantErr: true},
		{in: `{"stream":"WEBHOOKS"}`, wantErr: true},
		{in: `{"seq":4}`, wantErr: true},
		{in: `{"stream":"WEBHOOKS","seq":99999999999999999999}`, wantErr: true},
		{in: `{"stream":"WEBHOOKS","seq":-1}`, wantErr: true},
		{in: ``, wantErr: true},
		{in: `{`, wantErr: true},
		{in: `nonsense`, wantErr: true},
	} {
		seq, dup, err := parsePubAck([]byte(c.in))
		if (err != nil) != c.wantErr || seq != c.seq || dup != c.dup {
			t.Errorf("parsePubAck(%s) = %d, %v, %v; want %d, %v, error %v", c.in, seq, dup, err, c.seq, c.dup, c.wantErr)
		}
	}
}

// FuzzParsePubAck checks the hand-written reader against encoding/json: whatever it
// accepts, encoding/json reads the same way.
func FuzzParsePubAck(f *testing.F) {
	for _, s := range []string{
		`{"stream":"WEBHOOKS","seq":1}`,
		`{"stream":"WEBHOOKS","seq":42,"duplicate": true}`,
		`{"stream":"WEBHOOKS","domain":"hub","seq":7}`,
		`{"error":{"code":503,"description":"x"}}`,
		`{"stream":"W","seq":1,"seq":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, dup, ok := scanPubAck(b)
		if !ok {
			parsePubAck(b) // must not panic either
			return
		}
		var a struct {
			Stream    string `json:"stream"`
			Seq       uint64 `json:"seq"`
			Duplicate bool   `json:"duplicate"`
		}
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("scanPubAck accepted %q, encoding/json refuses it: %v", b, err)
		}
		if a.Seq != seq || a.Duplicate != dup || a.Stream == "" {
			t.Fatalf("scanPubAck(%q) = %d, %v; encoding/json reads %+v", b, seq, dup, a)
		}
	})
}

// transports names the ways a StreamPublisher reaches JetStream; the tests of the publisher
// run with each.
var transports = []string{"nats.go", "in-process"}

// publisherFor returns a publisher of the transport kind on a fresh embedded server, and a
// nats.go connection to the same server.
func publisherFor(t *testing.T, kind string) (*StreamPublisher, jetstream.JetStream, *nats.Conn) {
	t.Helper()
	ns := embeddedtest.Start(t)
	nc, js := embeddedtest.Connect(t, ns, ns.InProcess())
	var p *StreamPublisher
	var err error
	switch kind {
	case "nats.go":
		p, err = NewStreamPublisher(nc)
	case "in-process":
		p, err = NewInProcessPublisher(ns.InProcessConn, "", "")
	default:
		t.Fatalf("no transport %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, js, nc
}

func webhookMsg(id string) *nats.Msg {
	return &nats.Msg{
		Subject: subjects.Webhook("github", "push"),
		Header:  nats.Header{subjects.HeaderMsgID: {id}},
		Data:    []byte(`{"id":"` + id + `"}`),
	}
}

// TestStreamPublisherStores publishes from many goroutines at once: each gets the
// sequence its own event was stored at, and a second copy of an id is answered as a
// duplicate of the first.
func TestStreamPublisherStores(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			p, js, _ := publisherFor(t, kind)
			ctx := context.Background()
			if err := EnsureStreams(ctx, js, subjects.StreamOptions{}); err != nil {
				t.Fatal(err)
			}
			const n = 400
			seqs := make([]uint64, n)
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					for i := g; i < n; i += 16 {
						cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
						seq, dup, err := p.storeBlock(cctx, webhookMsg("e"+strconv.Itoa(i)), nil)
						cancel()
						if err != nil || dup {
							t.Errorf("event %d: %d, %v, %v", i, seq, dup, err)
						}
						seqs[i] = seq
					}
				})
			}
			wg.Wait()
			s, err := js.Stream(ctx, subjects.StreamWebhooks)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[uint64]bool{}
			for i, seq := range seqs {
				if seen[seq] {
					t.Fatalf("sequence %d answered twice", seq)
				}
				seen[seq] = true
				m, err := s.GetMsg(ctx, seq)
				if err != nil {
					t.Fatal(err)
				}
				if got := m.Header.Get(subjects.HeaderMsgID); got != "e"+strconv.Itoa(i) {
					t.Fatalf("event %d answered sequence %d, which holds %s", i, seq, got)
				}
			}
			seq, dup, err := p.storeBlock(ctx, webhookMsg("e7"), nil)
			if err != nil || !dup || seq != seqs[7] {
				t.Fatalf("second copy of e7: %d, %v, %v; want %d, duplicate", seq, dup, err, seqs[7])
			}
			ack, err := p.PublishMsg(ctx, webhookMsg("e8"))
			if err != nil || !ack.Duplicate || ack.Sequence != seqs[8] {
				t.Fatalf("PublishMsg of a second copy of e8: %+v, %v", ack, err)
			}
		})
	}
}

// TestStreamPublisherRefusals: a stream that refuses the event, no stream at all, a
// closed publisher.
func TestStreamPublisherRefusals(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			p, js, _ := publisherFor(t, kind)
			ctx := context.Background()

			// No stream: "no responders" until the deadline leaves no time for another try.
			cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, _, err := p.storeBlock(cctx, webhookMsg("a"), nil)
			cancel()
			if !errors.Is(err, nats.ErrNoResponders) {
				t.Fatalf("no stream: %v", err)
			}

			// The stream appears while the publish retries: it lands.
			go func() {
				time.Sleep(300 * time.Millisecond)
				if err := EnsureStreams(ctx, js, subjects.StreamOptions{}); err != nil {
					t.Error(err)
				}
			}()
			cctx, cancel = context.WithTimeout(ctx, 5*time.Second)
			seq, _, err := p.storeBlock(cctx, webhookMsg("b"), nil)
			cancel()
			if err != nil || seq != 1 {
				t.Fatalf("publish retried across the stream's creation: %d, %v", seq, err)
			}

			// A refusal of the stream is an error, not an acknowledgement.
			s, err := js.Stream(ctx, subjects.StreamWebhooks)
			if err != nil {
				t.Fatal(err)
			}
			cfg := s.CachedInfo().Config
			cfg.MaxMsgSize = 8
			if _, err := js.UpdateStream(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if seq, _, err := p.storeBlock(ctx, webhookMsg("c"), nil); err == nil {
				t.Fatalf("oversized event acknowledged at %d", seq)
			}

			p.Close()
			if _, _, err := p.storeBlock(ctx, webhookMsg("d"), nil); err == nil {
				t.Fatal("closed publisher published")
			}
		})
	}
}

// TestStreamPublisherLateAnswers uses a responder in place of a stream that answers late,
// twice, or not at all: a request that gave up never receives another's answer, and no
// request receives an answer meant for an earlier publish.
func TestStreamPublisherLateAnswers(t *testing.T) {
	for _, kind := range transports {
		t.Run(kind, func(t *testing.T) {
			p, _, nc := publisherFor(t, kind)
			type held struct {
				reply string
				seq   uint64
			}
			got := make(chan held, 16)
			sub, err := nc.Subscribe("fake.>", func(m *nats.Msg) {
				seq, _ := strconv.ParseUint(string(m.Data), 10, 64)
				got <- held{m.Reply, seq}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			if err := nc.Flush(); err != nil { // the subscription is in place before the publishes
				t.Fatal(err)
			}
			answer := func(h held, seq uint64) {
				if err := nc.Publish(h.reply, fmt.Appendf(nil, `{"stream":"FAKE","seq":%d}`, seq)); err != nil {
					t.Fatal(err)
				}
			}
			publish := func(seq uint64, timeout time.Duration) (chan uint64, chan error) {
				seqc, errc := make(chan uint64, 1), make(chan error, 1)
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					defer cancel()
					s, _, err := p.storeBlock(ctx, &nats.Msg{Subject: "fake.x", Data: []byte(strconv.FormatUint(seq, 10))}, nil)
					seqc <- s
					errc <- err
				}()
				return seqc, errc
			}

			// 1: gives up before its answer; its late answer reaches nobody.
			seqc, errc := publish(1, 50*time.Millisecond)
			first := <-got
			if s, err := <-seqc, <-errc; !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("publish 1 without an answer: %d, %v", s, err)
			}
			// 2: answered twice; the first answer stands.
			seqc, errc = publish(2, 5*time.Second)
			second := <-got
			answer(first, 1) // late: publish 1 gave up
			answer(second, 2)
			answer(second, 20)
			if s, err := <-seqc, <-errc; err != nil || s != 2 {
				t.Fatalf("publish 2: %d, %v; want 2", s, err)
			}
			// 3 reuses publish 2's waiter: the stray second answer to 2 is not its own.
			seqc, errc = publish(3, 5*time.Second)
			third := <-got
			if third.reply == second.reply {
				t.Fatalf("publish 3 reused the reply subject %s", third.reply)
			}
			select {
			case s := <-seqc:
				t.Fatalf("publish 3 answered %d before its own answer", s)
			case <-time.After(100 * time.Millisecond):
			}
			answer(third, 3)
			if s, err := <-seqc, <-errc; err != nil || s != 3 {
				t.Fatalf("publish 3: %d, %v; want 3", s, err)
			}
		})
	}
}
