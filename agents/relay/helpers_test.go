package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/relay"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// hit is one request a receiver got.
type hit struct {
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// receiver is an HTTP server on 127.0.0.1 that records every request and answers with
// what answer says for the n-th request (from 0).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	hits   []hit
	answer func(n int, w http.ResponseWriter) int
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.hits)
		rc.hits = append(rc.hits, hit{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now()})
		rc.mu.Unlock()
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(n, w)
		}
		if status < 0 { // drop the connection: a network error for the sender
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					_ = c.Close()
					return
				}
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.hits)
}

func (rc *receiver) all() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

func always(status int) func(int, http.ResponseWriter) int {
	return func(int, http.ResponseWriter) int { return status }
}

// testDelivery is a fast schedule and short holds for tests.
func testDelivery(t *testing.T, secrets ...string) relay.Delivery {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{secret1}
	}
	d := relay.Delivery{
		Timeout:     5 * time.Second,
		Concurrency: 1,
		Schedule:    []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 450 * time.Millisecond},
		Jitter:      -1,
		MaxHold:     5 * time.Second,
	}
	for _, s := range secrets {
		d.Secrets = append(d.Secrets, mustSecret(t, s))
	}
	return d
}

func endpoint(t *testing.T, name, url string, filters ...string) relay.Endpoint {
	return relay.Endpoint{Name: name, URL: url, Subjects: filters, Delivery: testDelivery(t)}
}

// runRelay starts a relay and returns a stop function that stops it and waits for Run.
func runRelay(t *testing.T, nc *nats.Conn, cfg relay.Config) (stop func()) {
	t.Helper()
	_, stop = startRelay(t, nc, cfg)
	return stop
}

// startRelay is runRelay that also returns the relay.
func startRelay(t *testing.T, nc *nats.Conn, cfg relay.Config) (r *relay.Relay, stop func()) {
	t.Helper()
	r, err := relay.New(nc, &cfg, testLog())
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return after stop")
			}
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// runAgent starts an SDK agent until the test ends.
func runAgent(t *testing.T, nc *nats.Conn, cfg agents.Config) {
	t.Helper()
	a, err := agents.New(nc, cfg)
	if err != nil {
		t.Fatalf("agents.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", cfg.Name, err)
		}
	})
}

// publish stores an event with the hookbus envelope.
func publish(t *testing.T, js jetstream.JetStream, subject, id string, data []byte, extra ...string) {
	t.Helper()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	h := msg.Header
	h.Set(subjects.HeaderSpecVersion, subjects.SpecVersion)
	h.Set(subjects.HeaderID, id)
	h.Set(subjects.HeaderMsgID, id)
	h.Set(subjects.HeaderSource, "/test")
	h.Set(subjects.HeaderType, "test")
	h.Set(subjects.HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
	h.Set(subjects.HeaderContentType, "application/json")
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// streamMsgs returns every message stored under filter, in order.
func streamMsgs(t *testing.T, js jetstream.JetStream, stream, filter string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	var out []*jetstream.RawStreamMsg
	var seq uint64 = 1
	for {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatalf("get msg: %v", err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

// attempts returns the relay's delivery events, in order.
func attempts(t *testing.T, js jetstream.JetStream) []relay.Attempt {
	t.Helper()
	var out []relay.Attempt
	for _, m := range streamMsgs(t, js, subjects.StreamAgents, relay.DeliveryFilter) {
		var a relay.Attempt
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatalf("delivery event %s: %v", m.Data, err)
		}
		if m.Subject != relay.DeliverySubject(a.Outcome) {
			t.Errorf("delivery event on %s has outcome %s", m.Subject, a.Outcome)
		}
		out = append(out, a)
	}
	return out
}

func outcomes(as []relay.Attempt) []string {
	var s []string
	for _, a := range as {
		s = append(s, a.Outcome)
	}
	return s
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func zeroLog() zerolog.Logger { return zerolog.Nop() }

// testLog is silent unless RELAY_TEST_LOG is set, then it writes to stderr.
func testLog() zerolog.Logger {
	if os.Getenv("RELAY_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000"}).With().Timestamp().Logger()
}
