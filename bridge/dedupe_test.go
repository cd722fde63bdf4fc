package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/bridge/horizon"
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

// landingPublisher stores every event but answers the first n publishes with an error,
// as a publish whose acknowledgement was lost: the event lands, the request gets 503.
type landingPublisher struct {
	bridge.Publisher
	fail atomic.Int32
}

func (p *landingPublisher) PublishMsg(ctx context.Context, m *nats.Msg, o ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := p.Publisher.PublishMsg(ctx, m, o...)
	if p.fail.Add(-1) >= 0 {
		return nil, errors.New("nats: timeout")
	}
	return ack, err
}

// TestLateLandingIsDuplicate: a request answered 503 whose event was stored all the same;
// the provider's retry after the duplicate window is a duplicate of it, not a second
// event, with the index following the stream and without (it reads the stream again after
// a failed publish).
func TestLateLandingIsDuplicate(t *testing.T) {
	for _, follow := range []bool{false, true} {
		t.Run(fmt.Sprintf("follow=%v", follow), func(t *testing.T) {
			ns := embeddedtest.Start(t)
			_, js := embeddedtest.Connect(t, ns)
			if err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{DuplicateWindow: time.Second}); err != nil {
				t.Fatal(err)
			}
			h := openHorizonWith(t, js, bridge.HorizonOptions{Dir: t.TempDir(), Horizon: time.Hour, Follow: follow})
			pub := &landingPublisher{Publisher: js}
			pub.fail.Store(1)
			srv, err := bridge.New(loadConfig(t, horizonConfig, nil), pub, zerolog.Nop(), bridge.WithHorizon(h))
			if err != nil {
				t.Fatal(err)
			}
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			go srv.Serve(ln)
			defer srv.Shutdown(context.Background())
			body := issuesBody("late landing")
			hdr := githubHeaders("landed-1", "issues", body, githubSecret)
			if a := post(t, ln.Addr().String(), "/webhooks/github", body, hdr); a.status != 503 {
				t.Fatalf("first: %d %s, want 503", a.status, a.body)
			}
			time.Sleep(1500 * time.Millisecond) // past the stream's window
			deadline := time.Now().Add(10 * time.Second)
			for {
				a := post(t, ln.Addr().String(), "/webhooks/github", body, hdr)
				if a.status == 200 {
					if !a.result.Duplicate || a.result.Seq != 1 {
						t.Fatalf("retry: %s, want a duplicate of seq 1", a.body)
					}
					break
				}
				if a.status != 503 || time.Now().After(deadline) {
					t.Fatalf("retry: %d %s", a.status, a.body)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := len(stored(t, js, "webhooks.>")); n != 1 {
				t.Fatalf("stored %d times", n)
			}
		})
	}
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
		_, js := embeddedtest.Connect(t, ns)
		if i == 0 {
			js0 = js
			if err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{DuplicateWindow: time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		h := openHorizon(t, js, t.TempDir())
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

// openHorizon opens a dedupe index in dir that follows the stream (several bridges share
// it) and waits until it has caught up.
func openHorizon(t testing.TB, js jetstream.JetStream, dir string) *bridge.StreamHorizon {
	t.Helper()
	return openHorizonWith(t, js, bridge.HorizonOptions{Dir: dir, Horizon: 72 * time.Hour, Follow: true})
}

func openHorizonWith(t testing.TB, js jetstream.JetStream, o bridge.HorizonOptions) *bridge.StreamHorizon {
	t.Helper()
	h, err := bridge.OpenHorizon(context.Background(), js, o, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for h.Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("dedupe index not caught up: %v", h.Err())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return h
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

// storeThree stores three deliveries through a fresh bridge and returns their ids.
func storeThree(t *testing.T, addr, prefix string) []string {
	t.Helper()
	var ids []string
	for i := range 3 {
		body := issuesBody(prefix)
		hdr := githubHeaders(fmt.Sprintf("%s-%d", prefix, i), "issues", body, githubSecret)
		a := post(t, addr, "/webhooks/github", body, hdr)
		if a.status != 200 || a.result.Duplicate {
			t.Fatalf("store %s-%d: %d %s", prefix, i, a.status, a.body)
		}
		ids = append(ids, a.result.ID)
	}
	return ids
}

func mustSee(t *testing.T, h *bridge.StreamHorizon, ids []string) {
	t.Helper()
	for _, id := range ids {
		if _, _, ok, err := h.Seen(horizon.KeyOf(id)); err != nil || !ok {
			t.Fatalf("%s not seen: %v %v", id, ok, err)
		}
	}
}

// TestHorizonSurvivesRestart: a bridge that stops and starts again resumes its index from
// its checkpoint, picking up what was stored meanwhile; a bridge with an empty, lost or
// corrupt index directory rebuilds it from the stream before it answers. With Follow and
// without.
func TestHorizonSurvivesRestart(t *testing.T) {
	for _, follow := range []bool{false, true} {
		t.Run(fmt.Sprintf("follow=%v", follow), func(t *testing.T) {
			addrs, js := bridges(t, 1, nil)
			dir := t.TempDir()
			reopen := func(dir string) *bridge.StreamHorizon {
				return openHorizonWith(t, js, bridge.HorizonOptions{Dir: dir, Horizon: 72 * time.Hour, Follow: follow})
			}
			h := reopen(dir)
			before := storeThree(t, addrs[0], "before") // through another bridge
			if follow {
				waitIndexed(t, h, js)
			} else {
				for _, id := range before { // as the ingress of this bridge would
					h.Stored(horizon.KeyOf(id), 0)
				}
			}
			mustSee(t, h, before)
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			during := storeThree(t, addrs[0], "during") // stored while this index was closed

			h = reopen(dir)
			mustSee(t, h, append(before, during...))
			if _, at, _, _ := h.Seen(horizon.KeyOf(during[0])); time.Since(at) > time.Minute {
				t.Fatalf("store time %s", at)
			}
			h.Close()

			mustSee(t, reopen(t.TempDir()), append(before, during...))

			names, _ := filepath.Glob(filepath.Join(dir, "*.hix"))
			if len(names) == 0 {
				t.Fatal("no index tables written")
			}
			if err := os.WriteFile(names[0], []byte("garbage"), 0o640); err != nil {
				t.Fatal(err)
			}
			mustSee(t, reopen(dir), append(before, during...))
		})
	}
}

// waitIndexed waits until h has indexed everything in the webhook stream.
func waitIndexed(t *testing.T, h *bridge.StreamHorizon, js jetstream.JetStream) {
	t.Helper()
	s, err := js.Stream(context.Background(), subjects.StreamWebhooks)
	if err != nil {
		t.Fatal(err)
	}
	last := s.CachedInfo().State.LastSeq
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, at := h.Stats(); at >= last {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index stuck below %d", last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHorizonBehindRefuses: once the tail has not read an event this bridge stored for
// MaxLag (the tail stalled: other bridges' events may be missing), the ingress answers 503 rather than risk storing a retry
// twice; a second bridge cannot open the same index directory.
func TestHorizonBehindRefuses(t *testing.T) {
	ns := embeddedtest.Start(t)
	_, js := embeddedtest.Connect(t, ns)
	if err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h, err := bridge.OpenHorizon(context.Background(), js, bridge.HorizonOptions{Dir: dir, Horizon: time.Hour, Follow: true, MaxLag: 200 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := bridge.OpenHorizon(context.Background(), js, bridge.HorizonOptions{Dir: dir, Horizon: time.Hour}, zerolog.Nop()); !errors.Is(err, horizon.ErrLocked) {
		t.Fatalf("second bridge on the same directory: %v, want ErrLocked", err)
	}
	cfg := loadConfig(t, horizonConfig, nil)
	srv, err := bridge.New(cfg, js, zerolog.Nop(), bridge.WithHorizon(h))
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	body := issuesBody("lag")
	if a := post(t, ln.Addr().String(), "/webhooks/github", body, githubHeaders("lag-1", "issues", body, githubSecret)); a.status != 200 {
		t.Fatalf("before: %d %s", a.status, a.body)
	}
	h.Stored(horizon.KeyOf("github:never"), 1<<40) // a sequence the tail will not reach
	deadline := time.Now().Add(5 * time.Second)
	for !errors.Is(h.Err(), bridge.ErrHorizonBehind) {
		if time.Now().After(deadline) {
			t.Fatalf("Err %v after the lag", h.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
	a := post(t, ln.Addr().String(), "/webhooks/github", body, githubHeaders("lag-2", "issues", body, githubSecret))
	if a.status != 503 || a.header.Get("Retry-After") == "" {
		t.Fatalf("behind: %d %q %s, want 503 with Retry-After", a.status, a.header.Get("Retry-After"), a.body)
	}
}
