package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents/agentstest"
	"github.com/hookbus/hookbus/agents/relay"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// verify checks h's signature with the official Standard Webhooks library.
func verify(t *testing.T, secret string, h hit) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(h.Body, h.Header); err != nil {
		t.Errorf("official library refuses the delivery of %s: %v", h.Header.Get("webhook-id"), err)
	}
}

var loopback = relay.SSRF{AllowLoopback: true}

func TestDeliversSignedEvent(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	rc := newReceiver(t, nil)
	oldSecret := newSecret("rotated-out", 32)
	ep := endpoint(t, "crm", rc.srv.URL+"/hooks?token=abc", "agents.triage.events.>")
	ep.Secrets = append(ep.Secrets, mustSecret(t, oldSecret))
	ep.Headers = map[string]string{"X-Team": "support"}
	runRelay(t, srv.Connect(t), relay.Config{Endpoints: []relay.Endpoint{ep}, SSRF: loopback})

	body := []byte(`{"priority":"high"}`)
	publish(t, js, "agents.triage.events.issue.triaged", "ev-1", body,
		subjects.HeaderTraceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	waitFor(t, "delivery", func() bool { return rc.count() == 1 })
	h := rc.all()[0]
	if string(h.Body) != string(body) || h.Path != "/hooks" || h.Header.Get("webhook-id") != "ev-1" ||
		h.Header.Get("Content-Type") != "application/json" || h.Header.Get("X-Team") != "support" ||
		h.Header.Get("Hookbus-Subject") != "agents.triage.events.issue.triaged" || h.Header.Get("Hookbus-Attempt") != "1" ||
		h.Header.Get("traceparent") == "" {
		t.Errorf("request %s %v %s", h.Path, h.Header, h.Body)
	}
	verify(t, secret1, h)
	verify(t, oldSecret, h)

	waitFor(t, "delivery event", func() bool { return len(attempts(t, js)) == 1 })
	a := attempts(t, js)[0]
	if a.Outcome != relay.OutcomeDelivered || a.Target != "crm" || a.Status != 200 || a.EventID != "ev-1" || a.Attempt != 1 ||
		a.URL != rc.srv.URL+"/hooks?…" || a.Subject != "agents.triage.events.issue.triaged" {
		t.Errorf("delivery event %+v", a)
	}
	m := streamMsgs(t, js, subjects.StreamAgents, relay.DeliveryFilter)[0]
	if m.Header.Get(subjects.HeaderCausationID) != "ev-1" || m.Header.Get(subjects.HeaderHops) != "1" ||
		m.Header.Get(subjects.HeaderSource) != "/agents/relay" || m.Header.Get(subjects.HeaderTraceparent) == "" {
		t.Errorf("delivery event envelope %v", m.Header)
	}
}

// TestFlakyEndpointRetried: an endpoint that fails three times (500, 503, a dropped
// connection) and then answers 200 gets the event four times with one webhook-id, with
// growing delays between attempts; the event is delivered once in effect and not
// dead-lettered.
func TestFlakyEndpointRetried(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	answers := []int{500, 503, -1, 200}
	rc := newReceiver(t, func(n int, _ http.ResponseWriter) int { return answers[min(n, len(answers)-1)] })
	ep := endpoint(t, "flaky", rc.srv.URL, "webhooks.demo.>")
	ep.Schedule = []time.Duration{60 * time.Millisecond, 240 * time.Millisecond, 960 * time.Millisecond}
	runRelay(t, srv.Connect(t), relay.Config{Endpoints: []relay.Endpoint{ep}, SSRF: loopback})

	publish(t, js, "webhooks.demo.lead.created", "demo:1", []byte(`{"lead":"ada"}`))
	waitFor(t, "four attempts and their events", func() bool { return len(attempts(t, js)) == 4 })
	hits := rc.all()
	if len(hits) != 4 {
		t.Fatalf("%d requests, want 4", len(hits))
	}
	seen := map[string]int{}
	for i, h := range hits {
		if id := h.Header.Get("webhook-id"); id != "demo:1" {
			t.Errorf("attempt %d: webhook-id %q", i+1, id)
		}
		if got := h.Header.Get("Hookbus-Attempt"); got != strconv.Itoa(i+1) {
			t.Errorf("attempt %d: Hookbus-Attempt %q", i+1, got)
		}
		verify(t, secret1, h)
		if answers[i] == 200 {
			seen[h.Header.Get("webhook-id")]++
		}
	}
	if len(seen) != 1 {
		t.Errorf("events accepted by the endpoint: %v, want one", seen)
	}
	// Each gap is at least its step, and they grow.
	var gaps []time.Duration
	for i := 1; i < len(hits); i++ {
		gaps = append(gaps, hits[i].At.Sub(hits[i-1].At))
	}
	for i, g := range gaps {
		if g < ep.Schedule[i] {
			t.Errorf("gap %d = %s, shorter than its step %s", i+1, g, ep.Schedule[i])
		}
		if i > 0 && g <= gaps[i-1] {
			t.Errorf("gaps do not grow: %v", gaps)
		}
	}
	as := attempts(t, js)
	if got := strings.Join(outcomes(as), ","); got != "retrying,retrying,retrying,delivered" {
		t.Errorf("outcomes %s", got)
	}
	if as[0].Status != 500 || as[1].Status != 503 || as[2].Status != 0 || as[2].Error == "" || as[3].Attempt != 4 || as[0].RetryIn != "60ms" {
		t.Errorf("attempts %+v", as)
	}
	if n := len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.>")); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// TestRetryAfterHonoured: after a 429 with Retry-After: 1, the next attempt waits a second
// although the schedule says 20ms, and the wait does not cost an attempt.
func TestRetryAfterHonoured(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	rc := newReceiver(t, func(n int, w http.ResponseWriter) int {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return 200
	})
	ep := endpoint(t, "throttled", rc.srv.URL, "webhooks.demo.>")
	ep.Schedule = []time.Duration{20 * time.Millisecond}
	runRelay(t, srv.Connect(t), relay.Config{Endpoints: []relay.Endpoint{ep}, SSRF: loopback})
	publish(t, js, "webhooks.demo.x", "demo:ra", []byte(`{}`))
	waitFor(t, "delivered", func() bool { return len(attempts(t, js)) == 2 })
	hits := rc.all()
	if gap := hits[1].At.Sub(hits[0].At); gap < 900*time.Millisecond {
		t.Errorf("second attempt %s after a Retry-After of 1s", gap)
	}
	if got := strings.Join(outcomes(attempts(t, js)), ","); got != "retrying,delivered" || hits[1].Header.Get("Hookbus-Attempt") != "2" {
		t.Errorf("outcomes %s, attempt header %q", got, hits[1].Header.Get("Hookbus-Attempt"))
	}
}

// TestGoneDisablesEndpoint: a 410 disables the endpoint (recorded in KV) while another
// endpoint on the same events goes on; after a restart the disabled endpoint stays off and
// its events wait in its consumer; once enabled again, it receives every one of them.
func TestGoneDisablesEndpoint(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	var back atomic.Bool
	gone := newReceiver(t, func(n int, _ http.ResponseWriter) int {
		if back.Load() {
			return 200
		}
		return http.StatusGone
	})
	ok := newReceiver(t, nil)
	cfg := relay.Config{
		Endpoints: []relay.Endpoint{endpoint(t, "gone", gone.srv.URL, "webhooks.demo.>"), endpoint(t, "ok", ok.srv.URL, "webhooks.demo.>")},
		SSRF:      loopback,
	}
	stop := runRelay(t, srv.Connect(t), cfg)
	ctx := context.Background()
	var kv jetstream.KeyValue
	waitFor(t, "the state bucket", func() bool {
		var err error
		kv, err = js.KeyValue(ctx, relay.BucketState)
		return err == nil
	})

	publish(t, js, "webhooks.demo.x", "demo:g1", []byte(`1`))
	waitFor(t, "disabled record", func() bool { _, err := kv.Get(ctx, "disabled.relay-gone"); return err == nil })
	publish(t, js, "webhooks.demo.x", "demo:g2", []byte(`2`))
	waitFor(t, "the healthy endpoint", func() bool { return ok.count() == 2 })
	if n := gone.count(); n != 1 {
		t.Fatalf("disabled endpoint got %d requests, want 1", n)
	}
	var disabled int
	for _, a := range attempts(t, js) {
		if a.Outcome == relay.OutcomeDisabled && a.Target == "gone" && a.Status == 410 {
			disabled++
		}
	}
	if disabled != 1 {
		t.Errorf("disabled events %d: %v", disabled, attempts(t, js))
	}
	stop()

	// Restarted: still disabled; its events are kept.
	stop = runRelay(t, srv.Connect(t), cfg)
	publish(t, js, "webhooks.demo.x", "demo:g3", []byte(`3`))
	waitFor(t, "the healthy endpoint", func() bool { return ok.count() == 3 })
	if n := gone.count(); n != 1 {
		t.Fatalf("disabled endpoint got %d requests after a restart", n)
	}
	stop()
	cons, err := js.Consumer(ctx, subjects.StreamWebhooks, "relay-gone")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kept := info.NumPending + uint64(info.NumAckPending); kept != 3 {
		t.Fatalf("events kept for the disabled endpoint: %d, want 3", kept)
	}

	// Enabled again (key deleted, relay restarted): it receives all three.
	back.Store(true)
	if err := kv.Delete(ctx, "disabled.relay-gone"); err != nil {
		t.Fatal(err)
	}
	runRelay(t, srv.Connect(t), cfg)
	waitFor(t, "the kept events", func() bool { return gone.count() == 4 })
	ids := map[string]bool{}
	for _, h := range gone.all()[1:] {
		ids[h.Header.Get("webhook-id")] = true
	}
	if !ids["demo:g1"] || !ids["demo:g2"] || !ids["demo:g3"] {
		t.Errorf("after enabling: %v", ids)
	}
}

// TestSlowEndpointDoesNotDelayFast: while a slow endpoint holds its first request, a fast
// endpoint on the same events receives all of them.
func TestSlowEndpointDoesNotDelayFast(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	release := make(chan struct{})
	slow := newReceiver(t, func(int, http.ResponseWriter) int { <-release; return 200 })
	fast := newReceiver(t, nil)
	runRelay(t, srv.Connect(t), relay.Config{
		Endpoints: []relay.Endpoint{endpoint(t, "slow", slow.srv.URL, "webhooks.demo.>"), endpoint(t, "fast", fast.srv.URL, "webhooks.demo.>")},
		SSRF:      loopback,
	})
	t.Cleanup(func() { close(release) }) // before the relay stops (cleanups run last first)
	for i := 0; i < 5; i++ {
		publish(t, js, "webhooks.demo.x", fmt.Sprintf("demo:s%d", i), []byte(`{}`))
	}
	waitFor(t, "the fast endpoint", func() bool { return fast.count() == 5 })
	if n := slow.count(); n != 1 {
		t.Fatalf("slow endpoint: %d requests in flight, want 1", n)
	}
	for i, h := range fast.all() {
		if id := h.Header.Get("webhook-id"); id != fmt.Sprintf("demo:s%d", i) {
			t.Errorf("fast endpoint, request %d: %s", i, id)
		}
	}
}

// TestResumesAfterRestart: the relay is stopped and its connection closed while an event
// waits for its retry; a new relay process delivers it, with the same webhook-id.
func TestResumesAfterRestart(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	rc := newReceiver(t, func(n int, _ http.ResponseWriter) int {
		if n == 0 {
			return 500
		}
		return 200
	})
	ep := endpoint(t, "resume", rc.srv.URL, "webhooks.demo.>")
	ep.Schedule = []time.Duration{300 * time.Millisecond}
	cfg := relay.Config{Endpoints: []relay.Endpoint{ep}, SSRF: loopback}
	nc1 := srv.Connect(t)
	stop := runRelay(t, nc1, cfg)
	publish(t, js, "webhooks.demo.x", "demo:r1", []byte(`{"n":1}`))
	waitFor(t, "the failed attempt", func() bool { return len(attempts(t, js)) == 1 })
	stop()
	nc1.Close()
	if n := rc.count(); n != 1 {
		t.Fatalf("%d requests before the restart", n)
	}

	runRelay(t, srv.Connect(t), cfg)
	waitFor(t, "delivery after the restart", func() bool { return len(attempts(t, js)) == 2 })
	hits := rc.all()
	if len(hits) != 2 || hits[1].Header.Get("webhook-id") != "demo:r1" || hits[1].Header.Get("Hookbus-Attempt") != "2" {
		t.Fatalf("hits %d, second %v", len(hits), hits[len(hits)-1].Header)
	}
	if got := strings.Join(outcomes(attempts(t, js)), ","); got != "retrying,delivered" {
		t.Errorf("outcomes %s", got)
	}
}

// TestClientErrorDeadLetters: a 400 dead-letters the event at once with the reason.
func TestClientErrorDeadLetters(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	rc := newReceiver(t, always(http.StatusBadRequest))
	runRelay(t, srv.Connect(t), relay.Config{Endpoints: []relay.Endpoint{endpoint(t, "strict", rc.srv.URL, "webhooks.demo.>")}, SSRF: loopback})
	publish(t, js, "webhooks.demo.x", "demo:bad", []byte(`{}`))
	waitFor(t, "dead letter", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.relay-strict")) == 1 })
	dl := streamMsgs(t, js, subjects.StreamDLQ, "dlq.relay-strict")[0]
	if r := dl.Header.Get(subjects.HeaderDLQReason); !strings.Contains(r, "strict answered 400 Bad Request") || dl.Header.Get(subjects.HeaderDLQAttempts) != "1" {
		t.Errorf("dead letter %v", dl.Header)
	}
	if n := rc.count(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if as := attempts(t, js); len(as) != 1 || as[0].Outcome != relay.OutcomeDeadLettered || as[0].Status != 400 {
		t.Errorf("attempts %+v", as)
	}
}

// TestSSRFRefusedAtDial: a name that resolves to loopback passes the config check (names are
// not resolved there) and is refused when dialled, when loopback is not allowed: nothing
// reaches the server, the event is dead-lettered with the reason.
func TestSSRFRefusedAtDial(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	rc := newReceiver(t, nil)
	port := rc.srv.URL[strings.LastIndexByte(rc.srv.URL, ':')+1:]
	runRelay(t, srv.Connect(t), relay.Config{Endpoints: []relay.Endpoint{endpoint(t, "inside", "http://localhost:"+port+"/", "webhooks.demo.>")}})
	publish(t, js, "webhooks.demo.x", "demo:ssrf", []byte(`{}`))
	waitFor(t, "dead letter", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.relay-inside")) == 1 })
	dl := streamMsgs(t, js, subjects.StreamDLQ, "dlq.relay-inside")[0]
	if r := dl.Header.Get(subjects.HeaderDLQReason); !strings.Contains(r, "destination address refused") || !strings.Contains(r, "is loopback") {
		t.Errorf("reason %q", r)
	}
	if n := rc.count(); n != 0 {
		t.Errorf("the refused address got %d requests", n)
	}
	if as := attempts(t, js); len(as) != 1 || as[0].Outcome != relay.OutcomeRefused {
		t.Errorf("attempts %+v", as)
	}

	// A literal address is refused before anything starts.
	cfg := relay.Config{Endpoints: []relay.Endpoint{endpoint(t, "meta", "http://169.254.169.254/latest/", "webhooks.demo.>")}, SSRF: relay.SSRF{AllowPrivate: true, AllowLoopback: true}}
	if _, err := relay.New(srv.Connect(t), &cfg, zeroLog()); !errors.Is(err, relay.ErrInvalid) || !strings.Contains(err.Error(), "cloud metadata") {
		t.Errorf("metadata endpoint: %v", err)
	}
}

// TestBreakerHoldsDeadEndpoint: after two failures the breaker opens; the remaining attempts
// are held without reaching the endpoint, and the event is dead-lettered after the schedule.
func TestBreakerHoldsDeadEndpoint(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	rc := newReceiver(t, always(500))
	ep := endpoint(t, "dead", rc.srv.URL, "webhooks.demo.>")
	ep.Schedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
	ep.Breaker = relay.Breaker{Failures: 2, Cooldown: time.Hour}
	ep.MaxHold = 10 * time.Millisecond
	runRelay(t, srv.Connect(t), relay.Config{Endpoints: []relay.Endpoint{ep}, SSRF: loopback})
	publish(t, js, "webhooks.demo.x", "demo:dead", []byte(`{}`))
	waitFor(t, "dead letter", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.relay-dead")) == 1 })
	if n := rc.count(); n != 2 {
		t.Errorf("%d requests reached the dead endpoint, want 2", n)
	}
	as := attempts(t, js)
	if got := strings.Join(outcomes(as), ","); got != "retrying,retrying,retrying,retrying,dead_lettered" {
		t.Fatalf("outcomes %s", got)
	}
	for _, a := range as[2:] {
		if !strings.Contains(a.Error, "circuit breaker is open") || a.Status != 0 {
			t.Errorf("held attempt %+v", a)
		}
	}
}

// TestOwnEventsNotRelayed: an endpoint subscribed to agents.> gets the agents' events but
// never the relay's own delivery events, which lie between them in the stream.
func TestOwnEventsNotRelayed(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	rc := newReceiver(t, nil)
	runRelay(t, srv.Connect(t), relay.Config{Endpoints: []relay.Endpoint{endpoint(t, "all", rc.srv.URL, "agents.>")}, SSRF: loopback})
	publish(t, js, "agents.triage.events.a", "e1", []byte(`1`))
	waitFor(t, "first delivery event", func() bool { return len(attempts(t, js)) == 1 })
	publish(t, js, "agents.triage.events.b", "e2", []byte(`2`))
	waitFor(t, "second delivery event", func() bool { return len(attempts(t, js)) == 2 })
	hits := rc.all()
	if len(hits) != 2 || hits[0].Header.Get("webhook-id") != "e1" || hits[1].Header.Get("webhook-id") != "e2" {
		for _, h := range hits {
			t.Logf("got %s %s", h.Header.Get("Hookbus-Subject"), h.Body)
		}
		t.Fatalf("%d requests", len(hits))
	}
}
