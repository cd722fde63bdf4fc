package agents_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/agentstest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishWebhook stores a webhook-like event as the bridge would.
func publishWebhook(t *testing.T, js jetstream.JetStream, id, event string, data []byte) {
	t.Helper()
	msg := &nats.Msg{Subject: subjects.Webhook("github", event), Data: data, Header: nats.Header{
		subjects.HeaderSpecVersion: {subjects.SpecVersion},
		subjects.HeaderID:          {id},
		subjects.HeaderMsgID:       {id},
		subjects.HeaderSource:      {"/webhooks/github"},
		subjects.HeaderType:        {event},
		subjects.HeaderTime:        {time.Now().UTC().Format(time.RFC3339Nano)},
		subjects.HeaderTraceparent: {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	}}
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// running starts an agent and returns a stop function that stops it and waits for Run.
func running(t *testing.T, nc *nats.Conn, cfg agents.Config) (stop func()) {
	t.Helper()
	a, err := agents.New(nc, cfg)
	if err != nil {
		t.Fatalf("agents.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
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
	return stop
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEmitCarriesEnvelope(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var got atomic.Pointer[agents.Event]
	running(t, nc, agents.Config{
		Name:     "triage",
		Subjects: []string{"webhooks.github.issues.>"},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			got.Store(ev)
			_, err := ev.Emit(ctx, "issue.triaged", []byte(`{"priority":"high"}`))
			return err
		}),
	})
	publishWebhook(t, js, "github:d1", "issues.opened", []byte(`{"action":"opened"}`))
	waitFor(t, "emitted event", func() bool { return len(streamMsgs(t, js, subjects.StreamAgents, "agents.>")) == 1 })

	ev := got.Load()
	if ev.ID != "github:d1" || ev.Type != "issues.opened" || ev.CorrelationID != "github:d1" || ev.Attempt != 1 ||
		ev.Stream != subjects.StreamWebhooks || ev.Sequence != 1 || string(ev.Data) != `{"action":"opened"}` {
		t.Fatalf("handled event = %+v", ev)
	}
	m := streamMsgs(t, js, subjects.StreamAgents, "agents.>")[0]
	want := map[string]string{
		subjects.HeaderID:            subjects.DerivedID("github:d1", "triage", "issue.triaged", 0),
		subjects.HeaderMsgID:         subjects.DerivedID("github:d1", "triage", "issue.triaged", 0),
		subjects.HeaderSource:        "/agents/triage",
		subjects.HeaderType:          "issue.triaged",
		subjects.HeaderCausationID:   "github:d1",
		subjects.HeaderCorrelationID: "github:d1",
		subjects.HeaderHops:          "1",
		subjects.HeaderSpecVersion:   "1.0",
		subjects.HeaderTraceparent:   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	for k, v := range want {
		if got := m.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if m.Subject != "agents.triage.events.issue.triaged" || string(m.Data) != `{"priority":"high"}` {
		t.Errorf("emitted %s %s", m.Subject, m.Data)
	}
}

func TestErrorAndPanicAreRetried(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var calls atomic.Int32
	var attempts sync.Map
	running(t, nc, agents.Config{
		Name:     "flaky",
		Subjects: []string{"webhooks.>"},
		Backoff:  []time.Duration{10 * time.Millisecond},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			n := calls.Add(1)
			attempts.Store(n, ev.Attempt)
			switch n {
			case 1:
				return errors.New("transient")
			case 2:
				panic("boom")
			}
			_, err := ev.Emit(ctx, "done", nil)
			return err
		}),
	})
	publishWebhook(t, js, "github:r1", "push", nil)
	waitFor(t, "success after two failures", func() bool { return len(streamMsgs(t, js, subjects.StreamAgents, "agents.>")) == 1 })
	for n, want := range map[int32]int{1: 1, 2: 2, 3: 3} {
		if got, _ := attempts.Load(n); got != want {
			t.Errorf("call %d saw attempt %v, want %d", n, got, want)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if c := calls.Load(); c != 3 {
		t.Fatalf("handler called %d times, want 3 (acked after success)", c)
	}
}

// TestCrashBeforeAck kills an agent mid-handler — after its emit, before its ack — and shows
// that the restarted agent handles the event again and the bus holds a single emitted event.
func TestCrashBeforeAck(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	const ackWait = time.Second

	crashConn := srv.Connect(t)
	emitted := make(chan struct{})
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	stopCrashing := running(t, crashConn, agents.Config{
		Name: "worker", Subjects: []string{"webhooks.>"}, AckWait: ackWait, StopTimeout: 100 * time.Millisecond,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			if _, err := ev.Emit(ctx, "work.done", []byte("1")); err != nil {
				return err
			}
			close(emitted)
			select { // the process "dies" here, before returning
			case <-block:
			case <-ctx.Done():
			}
			return errors.New("never acknowledged")
		}),
	})
	publishWebhook(t, js, "github:c1", "push", nil)
	<-emitted
	crashConn.Close() // the process is gone: no ack, no nak, no progress
	stopCrashing()

	var handled atomic.Int32
	var sawAttempt atomic.Int32
	var dup atomic.Bool
	running(t, srv.Connect(t), agents.Config{
		Name: "worker", Subjects: []string{"webhooks.>"}, AckWait: ackWait,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			em, err := ev.Emit(ctx, "work.done", []byte("1"))
			if err != nil {
				return err
			}
			dup.Store(em.Duplicate)
			sawAttempt.Store(int32(ev.Attempt))
			handled.Add(1)
			return nil
		}),
	})
	waitFor(t, "redelivery after the crash", func() bool { return handled.Load() == 1 })
	if a := sawAttempt.Load(); a < 2 {
		t.Errorf("redelivered event has attempt %d, want ≥ 2", a)
	}
	if !dup.Load() {
		t.Error("second emit was not reported as a duplicate")
	}
	if n := len(streamMsgs(t, js, subjects.StreamAgents, "agents.worker.events.>")); n != 1 {
		t.Fatalf("%d emitted events stored, want 1", n)
	}
}

func TestGracefulStopFinishesHandler(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	started := make(chan struct{})
	var finished atomic.Bool
	stop := running(t, nc, agents.Config{
		Name: "slow", Subjects: []string{"webhooks.>"},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			close(started)
			time.Sleep(300 * time.Millisecond)
			finished.Store(true)
			return nil
		}),
	})
	publishWebhook(t, js, "github:g1", "push", nil)
	<-started
	stop()
	if !finished.Load() {
		t.Fatal("Run returned before the running handler finished")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, subjects.StreamWebhooks, "slow")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.AckFloor.Stream != 1 {
		t.Fatalf("after graceful stop: ack pending %d, ack floor %d; want 0 and 1", info.NumAckPending, info.AckFloor.Stream)
	}
}

func TestLongHandlerKeepsLease(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var calls atomic.Int32
	done := make(chan struct{})
	running(t, nc, agents.Config{
		Name: "long", Subjects: []string{"webhooks.>"}, AckWait: 600 * time.Millisecond, Concurrency: 2,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			if calls.Add(1) == 1 {
				time.Sleep(2 * time.Second) // more than three AckWaits
				close(done)
			}
			return nil
		}),
	})
	publishWebhook(t, js, "github:l1", "push", nil)
	<-done
	time.Sleep(300 * time.Millisecond)
	if c := calls.Load(); c != 1 {
		t.Fatalf("handler called %d times, want 1: the lease was lost while it ran", c)
	}
}

func TestConcurrencyBound(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var cur, peak, total atomic.Int32
	running(t, nc, agents.Config{
		Name: "bounded", Subjects: []string{"webhooks.>"}, Concurrency: 3,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			cur.Add(-1)
			total.Add(1)
			return nil
		}),
	})
	for i := range 30 {
		publishWebhook(t, js, fmt.Sprintf("github:b%d", i), "push", nil)
	}
	waitFor(t, "all handled", func() bool { return total.Load() == 30 })
	if p := peak.Load(); p > 3 || p < 2 {
		t.Fatalf("peak concurrency %d, want 2..3", p)
	}
}

func TestMultipleStreamsOneAgent(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var subjectsSeen sync.Map
	var n atomic.Int32
	running(t, nc, agents.Config{
		Name: "both", Subjects: []string{"webhooks.github.>", "agents.other.events.>"},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			subjectsSeen.Store(ev.Subject, ev.Stream)
			n.Add(1)
			return nil
		}),
	})
	publishWebhook(t, js, "github:m1", "push", nil)
	if _, err := js.Publish(context.Background(), "agents.other.events.x", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), "agents.unrelated.events.x", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both events", func() bool { return n.Load() == 2 })
	time.Sleep(100 * time.Millisecond)
	if n.Load() != 2 {
		t.Fatalf("handled %d events, want 2 (a filter leaked)", n.Load())
	}
	if s, _ := subjectsSeen.Load("agents.other.events.x"); s != subjects.StreamAgents {
		t.Errorf("agent event read from stream %v", s)
	}
}

func TestConfigValidate(t *testing.T) {
	h := agents.HandlerFunc(func(context.Context, *agents.Event) error { return nil })
	tests := []struct {
		name string
		cfg  agents.Config
	}{
		{"no name", agents.Config{Subjects: []string{"webhooks.>"}, Handler: h}},
		{"bad name", agents.Config{Name: "Tri.age", Subjects: []string{"webhooks.>"}, Handler: h}},
		{"no subjects", agents.Config{Name: "a", Handler: h}},
		{"foreign subject", agents.Config{Name: "a", Subjects: []string{"orders.>"}, Handler: h}},
		{"no handler", agents.Config{Name: "a", Subjects: []string{"webhooks.>"}}},
		{"negative", agents.Config{Name: "a", Subjects: []string{"webhooks.>"}, Handler: h, Concurrency: -1}},
		{"zero backoff", agents.Config{Name: "a", Subjects: []string{"webhooks.>"}, Handler: h, Backoff: []time.Duration{0}}},
		{"negative window", agents.Config{Name: "a", Subjects: []string{"webhooks.>"}, Handler: h, MaxAckPending: -1}},
		{"window below concurrency", agents.Config{Name: "a", Subjects: []string{"webhooks.>"}, Handler: h, Concurrency: 8, MaxAckPending: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); !errors.Is(err, agents.ErrConfig) {
				t.Fatalf("Validate() = %v, want ErrConfig", err)
			}
		})
	}
	ok := agents.Config{Name: "a", Subjects: []string{"webhooks.>"}, Handler: h}
	if err := ok.Validate(); err != nil || ok.Concurrency != 1 || ok.MaxAckPending != agents.DefaultMaxAckPending ||
		ok.AckWait != agents.DefaultAckWait || ok.MaxDeliver != agents.DefaultMaxDeliver || ok.MaxHops != agents.DefaultMaxHops {
		t.Fatalf("Validate() = %v, defaults %+v", err, ok)
	}
	wide := agents.Config{Name: "a", Subjects: []string{"webhooks.>"}, Handler: h, Concurrency: 1000}
	if err := wide.Validate(); err != nil || wide.MaxAckPending != 1000 {
		t.Fatalf("Concurrency 1000: Validate() = %v, MaxAckPending %d, want 1000", err, wide.MaxAckPending)
	}
	strict := agents.Config{Name: "a", Subjects: []string{"webhooks.>"}, Handler: h, MaxAckPending: 1}
	if err := strict.Validate(); err != nil || strict.MaxAckPending != 1 || strict.Concurrency != 1 {
		t.Fatalf("MaxAckPending 1: Validate() = %v, %+v", err, strict)
	}
}

func TestRunFailsWithoutStream(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(context.Background(), subjects.StreamWebhooks); err != nil {
		t.Fatal(err)
	}
	a, err := agents.New(nc, agents.Config{Name: "x", Subjects: []string{"webhooks.>"},
		Handler: agents.HandlerFunc(func(context.Context, *agents.Event) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.Run(ctx); err == nil || !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("Run without stream = %v, want ErrStreamNotFound", err)
	}
}
