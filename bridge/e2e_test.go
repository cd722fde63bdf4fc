package bridge_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/examples"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// runAgent runs one agent on its own connection, as its own process would, until the test
// ends.
func runAgent(t *testing.T, url string, cfg agents.Config, opts ...nats.Option) {
	t.Helper()
	nc, err := agents.Connect(url, cfg.Name, zerolog.Nop(), opts...)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Name, err)
	}
	cfg.Logger = zerolog.Nop()
	a, err := agents.New(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", cfg.Name, err)
		}
		nc.Close()
	})
}

// TestEndToEnd is the seed scenario: a GitHub-signed issues webhook reaches triage, whose
// event reaches notify; each emits exactly one event, linked by causation and correlation.
func TestEndToEnd(t *testing.T) {
	h := startDefault(t)
	runAgent(t, h.addrs.NATS, examples.TriageConfig())
	runAgent(t, h.addrs.NATS, examples.NotifyConfig("#ops"))

	body := issuesBody("Checkout crashes with a panic")
	hdr := githubHeaders("e2e-1", "issues", body, githubSecret)
	hdr["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if a := post(t, h.addrs.HTTP, "/webhooks/github", body, hdr); a.status != 200 || a.result.Duplicate {
		t.Fatalf("first delivery: %d %s", a.status, a.body)
	}
	// The provider retries the same delivery: stored once, handled once.
	if a := post(t, h.addrs.HTTP, "/webhooks/github", body, hdr); a.status != 200 || !a.result.Duplicate {
		t.Fatalf("retried delivery: %d %s", a.status, a.body)
	}
	// A forged copy with an altered body is refused and stored nowhere.
	forged := []byte(string(body[:len(body)-1]) + `,"x":1}`)
	if a := post(t, h.addrs.HTTP, "/webhooks/github", forged, githubHeaders("e2e-2", "issues", body, githubSecret)); a.status != 401 {
		t.Fatalf("forged delivery: %d %s", a.status, a.body)
	}

	waitMsgs(t, h.js, "agents.notify.events.>", 1)
	// Give a stray second emission the time to show up before counting.
	time.Sleep(500 * time.Millisecond)
	webhooks := stored(t, h.js, "webhooks.>")
	triaged := stored(t, h.js, "agents.triage.events.>")
	sent := stored(t, h.js, "agents.notify.events.>")
	if len(webhooks) != 1 || len(triaged) != 1 || len(sent) != 1 {
		t.Fatalf("stored %d webhooks, %d triaged, %d sent; want 1 each", len(webhooks), len(triaged), len(sent))
	}
	w, tr, s := webhooks[0], triaged[0], sent[0]
	if tr.Subject != "agents.triage.events.issue.triaged" || s.Subject != "agents.notify.events.message.sent" {
		t.Fatalf("subjects %s, %s", tr.Subject, s.Subject)
	}
	wid := w.Header.Get(subjects.HeaderID)
	tid := tr.Header.Get(subjects.HeaderID)
	links := []struct{ name, got, want string }{
		{"triaged causation", tr.Header.Get(subjects.HeaderCausationID), wid},
		{"triaged correlation", tr.Header.Get(subjects.HeaderCorrelationID), wid},
		{"sent causation", s.Header.Get(subjects.HeaderCausationID), tid},
		{"sent correlation", s.Header.Get(subjects.HeaderCorrelationID), wid},
		{"sent hops", s.Header.Get(subjects.HeaderHops), "2"},
		{"sent traceparent", s.Header.Get(subjects.HeaderTraceparent), hdr["traceparent"]},
	}
	for _, l := range links {
		if l.got != l.want {
			t.Errorf("%s = %q, want %q", l.name, l.got, l.want)
		}
	}
	var tri examples.Triaged
	if err := json.Unmarshal(tr.Data, &tri); err != nil || tri.Priority != examples.PriorityHigh || tri.Number != 7 || tri.Repository != "acme/app" {
		t.Fatalf("triaged payload %s (%v)", tr.Data, err)
	}
	var msg examples.Message
	if err := json.Unmarshal(s.Data, &msg); err != nil || msg.Channel != "#ops" || msg.Priority != examples.PriorityHigh {
		t.Fatalf("sent payload %s (%v)", s.Data, err)
	}
}

func waitMsgs(t *testing.T, js jetstream.JetStream, filter string, n int) []*jetstream.RawStreamMsg {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs := stored(t, js, filter)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d messages on %s (have %d)", n, filter, len(msgs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
