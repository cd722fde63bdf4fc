package bridge_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

const horizonConfig = `
nats: {embedded: {}}
streams: {duplicate_window: 1s}
sources:
  github:
    verify: github
    secrets: ["` + githubSecret + `"]
  short:
    verify: github
    secrets: ["` + githubSecret + `"]
    dedupe_horizon: 0s
`

// failingPublisher fails the first n publishes, then passes them to the real stream.
type failingPublisher struct {
	bridge.Publisher
	fail atomic.Int32
}

func (p *failingPublisher) PublishMsg(ctx context.Context, m *nats.Msg, o ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if p.fail.Add(-1) >= 0 {
		return nil, errors.New("nats: timeout")
	}
	return p.Publisher.PublishMsg(ctx, m, o...)
}

// bridges starts n ingress servers sharing one JetStream, each on its own connection, as n
// bridge processes behind a load balancer would.
func bridges(t *testing.T, n int, wrap func(bridge.Publisher) bridge.Publisher) ([]string, jetstream.JetStream) {
	t.Helper()
	ns := embeddedtest.Start(t)
	cfg := loadConfig(t, horizonConfig, nil)
	var addrs []string
	var js0 jetstream.JetStream
	for i := range n {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		if i == 0 {
			js0 = js
			if err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{DuplicateWindow: time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		h, err := bridge.NewKVHorizon(context.Background(), js)
		if err != nil {
			t.Fatal(err)
		}
		var pub bridge.Publisher = js
		if wrap != nil {
			pub = wrap(js)
		}
		srv, err := bridge.New(cfg, pub, zerolog.Nop(), bridge.WithHorizon(h))
		if err != nil {
			t.Fatal(err)
		}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Shutdown(context.Background()) })
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, js0
}

// TestHorizonOutlivesWindow: a retry after the stream's duplicate window has passed is still
// a duplicate, on another bridge too; a source without a horizon stores it again.
func TestHorizonOutlivesWindow(t *testing.T) {
	addrs, js := bridges(t, 2, nil)
	body := issuesBody("late retry")
	for _, src := range []string{"github", "short"} {
		hdr := githubHeaders("late-1", "issues", body, githubSecret)
		if a := post(t, addrs[0], "/webhooks/"+src, body, hdr); a.status != 200 || a.result.Duplicate {
			t.Fatalf("%s first: %d %s", src, a.status, a.body)
		}
	}
	time.Sleep(1500 * time.Millisecond) // past the 1s duplicate window
	hdr := githubHeaders("late-1", "issues", body, githubSecret)
	a := post(t, addrs[1], "/webhooks/github", body, hdr)
	if a.status != 200 || !a.result.Duplicate || a.result.Seq != 1 {
		t.Fatalf("retry past the window on the other bridge: %d %s", a.status, a.body)
	}
	if a := post(t, addrs[1], "/webhooks/short", body, hdr); a.status != 200 || a.result.Duplicate {
		t.Fatalf("source without horizon: %d %s (want stored again)", a.status, a.body)
	}
	if n := len(stored(t, js, "webhooks.github.>")); n != 1 {
		t.Fatalf("github stored %d times", n)
	}
	if n := len(stored(t, js, "webhooks.short.>")); n != 2 {
		t.Fatalf("short stored %d times, want 2 (no horizon)", n)
	}
}

// TestFailedPublishDoesNotMarkSeen: after a 503 the provider's retry is stored, not taken
// for a duplicate.
func TestFailedPublishDoesNotMarkSeen(t *testing.T) {
	var fp *failingPublisher
	addrs, js := bridges(t, 1, func(p bridge.Publisher) bridge.Publisher {
		fp = &failingPublisher{Publisher: p}
		fp.fail.Store(1)
		return fp
	})
	body := issuesBody("after 503")
	hdr := githubHeaders("r503", "issues", body, githubSecret)
	if a := post(t, addrs[0], "/webhooks/github", body, hdr); a.status != 503 {
		t.Fatalf("first: %d %s", a.status, a.body)
	}
	time.Sleep(1500 * time.Millisecond)
	if a := post(t, addrs[0], "/webhooks/github", body, hdr); a.status != 200 || a.result.Duplicate {
		t.Fatalf("retry after 503: %d %s", a.status, a.body)
	}
	if n := len(stored(t, js, "webhooks.>")); n != 1 {
		t.Fatalf("stored %d", n)
	}
}

// TestDuplicateStorm sends one delivery many times at once to two bridges: stored once, and
// every answer names the same sequence.
func TestDuplicateStorm(t *testing.T) {
	addrs, js := bridges(t, 2, nil)
	body := issuesBody("storm")
	hdr := githubHeaders("storm-1", "issues", body, githubSecret)
	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[uint64]int{}
	fresh := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := post(t, addrs[i%2], "/webhooks/github", body, hdr)
			mu.Lock()
			defer mu.Unlock()
			if a.status != 200 {
				t.Errorf("answer %d %s", a.status, a.body)
				return
			}
			seqs[a.result.Seq]++
			if !a.result.Duplicate {
				fresh++
			}
		}()
	}
	wg.Wait()
	if len(seqs) != 1 || fresh != 1 {
		t.Fatalf("sequences %v, %d answers not duplicate; want one sequence, one fresh", seqs, fresh)
	}
	if got := len(stored(t, js, "webhooks.>")); got != 1 {
		t.Fatalf("stored %d", got)
	}
}
