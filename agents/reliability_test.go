package agents_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/agentstest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

func TestExhaustedRetriesDeadLetter(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var calls atomic.Int32
	var next atomic.Int32
	running(t, nc, agents.Config{
		Name: "failing", Subjects: []string{"webhooks.>"}, MaxDeliver: 3, Backoff: []time.Duration{10 * time.Millisecond},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			if ev.ID == "github:next" {
				next.Add(1)
				return nil
			}
			calls.Add(1)
			return errors.New("upstream said no")
		}),
	})
	publishWebhook(t, js, "github:bad", "issues.opened", []byte(`{"n":1}`))
	publishWebhook(t, js, "github:next", "issues.opened", nil)
	waitFor(t, "dead letter", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.failing")) == 1 })
	waitFor(t, "the agent moved on", func() bool { return next.Load() == 1 })
	time.Sleep(200 * time.Millisecond)
	if c := calls.Load(); c != 3 {
		t.Fatalf("handler ran %d times, want MaxDeliver = 3", c)
	}
	d := streamMsgs(t, js, subjects.StreamDLQ, "dlq.failing")[0]
	want := map[string]string{
		subjects.HeaderDLQReason:   "upstream said no",
		subjects.HeaderDLQAttempts: "3",
		subjects.HeaderDLQSubject:  "webhooks.github.issues.opened",
		subjects.HeaderDLQStream:   subjects.StreamWebhooks,
		subjects.HeaderDLQSequence: "1",
		subjects.HeaderDLQAgent:    "failing",
		subjects.HeaderID:          "github:bad",
		subjects.HeaderType:        "issues.opened",
	}
	for k, v := range want {
		if got := d.Header.Get(k); got != v {
			t.Errorf("dead letter header %s = %q, want %q", k, got, v)
		}
	}
	if string(d.Data) != `{"n":1}` {
		t.Errorf("dead letter body %q", d.Data)
	}
	if _, err := time.Parse(time.RFC3339Nano, d.Header.Get(subjects.HeaderDLQTime)); err != nil {
		t.Errorf("dead letter time: %v", err)
	}
}

func TestPermanentErrorDeadLettersAtOnce(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var calls atomic.Int32
	running(t, nc, agents.Config{
		Name: "strict", Subjects: []string{"webhooks.>"},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			calls.Add(1)
			return agents.Permanent(errors.New("schema v0 is not supported"))
		}),
	})
	publishWebhook(t, js, "github:p1", "push", nil)
	waitFor(t, "dead letter", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.strict")) == 1 })
	time.Sleep(300 * time.Millisecond)
	if c := calls.Load(); c != 1 {
		t.Fatalf("permanent error retried: %d calls", c)
	}
	if r := streamMsgs(t, js, subjects.StreamDLQ, "dlq.strict")[0].Header.Get(subjects.HeaderDLQAttempts); r != "1" {
		t.Fatalf("attempts %s", r)
	}
	if !errors.Is(agents.Permanent(context.Canceled), context.Canceled) || agents.Permanent(nil) != nil {
		t.Fatal("Permanent does not wrap")
	}
}

// TestHopGuardStopsLoop runs two agents that trigger each other for ever; the hop guard cuts
// the chain and dead-letters it with the chain of causes.
func TestHopGuardStopsLoop(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	echo := func(other, typ string) agents.Handler {
		return agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			_, err := ev.Emit(ctx, typ, nil)
			return err
		})
	}
	running(t, srv.Connect(t), agents.Config{Name: "ping", Subjects: []string{"webhooks.>", "agents.pong.events.>"}, MaxHops: 5, Handler: echo("pong", "ping")})
	running(t, srv.Connect(t), agents.Config{Name: "pong", Subjects: []string{"agents.ping.events.>"}, MaxHops: 5, Handler: echo("ping", "pong")})
	publishWebhook(t, js, "github:loop", "push", nil)
	waitFor(t, "the loop dead-lettered", func() bool {
		return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.>")) == 1
	})
	time.Sleep(500 * time.Millisecond)
	if n := len(streamMsgs(t, js, subjects.StreamAgents, "agents.>")); n != 5 {
		t.Fatalf("%d agent events stored, want 5 (the hop limit)", n)
	}
	d := streamMsgs(t, js, subjects.StreamDLQ, "dlq.>")[0]
	reason := d.Header.Get(subjects.HeaderDLQReason)
	if !strings.Contains(reason, "hop limit") || !strings.Contains(reason, "github:loop") {
		t.Fatalf("reason %q does not name the limit and the chain", reason)
	}
	if chain := strings.Fields(d.Header.Get(subjects.HeaderChain)); len(chain) != 5 || chain[0] != "github:loop" {
		t.Fatalf("chain header %q", d.Header.Get(subjects.HeaderChain))
	}
}

// TestOnceSkipsRepeatedSideEffect crashes an agent after its side effect but before its ack;
// the redelivered event skips the side effect through the done record.
func TestOnceSkipsRepeatedSideEffect(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	var charges atomic.Int32
	charge := func(context.Context) error { charges.Add(1); return nil }

	crashConn := srv.Connect(t)
	crashed := make(chan struct{})
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	stop := running(t, crashConn, agents.Config{
		Name: "biller", Subjects: []string{"webhooks.>"}, AckWait: time.Second, StopTimeout: 50 * time.Millisecond,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			if _, err := ev.Once(ctx, "charge", charge); err != nil {
				return err
			}
			close(crashed)
			select {
			case <-block:
			case <-ctx.Done():
			}
			return errors.New("process gone")
		}),
	})
	publishWebhook(t, js, "github:o1", "invoice.paid", nil)
	<-crashed
	crashConn.Close()
	stop()

	var ranAgain atomic.Bool
	var handled atomic.Int32
	running(t, srv.Connect(t), agents.Config{
		Name: "biller", Subjects: []string{"webhooks.>"}, AckWait: time.Second,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			ran, err := ev.Once(ctx, "charge", charge)
			ranAgain.Store(ran)
			handled.Add(1)
			return err
		}),
	})
	waitFor(t, "redelivery", func() bool { return handled.Load() == 1 })
	if ranAgain.Load() || charges.Load() != 1 {
		t.Fatalf("side effect ran %d times (ran again: %v), want once", charges.Load(), ranAgain.Load())
	}
}

// TestCrashLoopDeadLetters shows an event whose handler never settles (its process dies each
// time) is dead-lettered once MaxDeliver deliveries passed, instead of blocking the agent.
func TestCrashLoopDeadLetters(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	publishWebhook(t, js, "github:poison", "push", nil)
	for i := range 2 {
		nc := srv.Connect(t)
		got := make(chan struct{})
		block := make(chan struct{})
		stop := running(t, nc, agents.Config{
			Name: "crashy", Subjects: []string{"webhooks.>"}, AckWait: 500 * time.Millisecond, MaxDeliver: 2, StopTimeout: 10 * time.Millisecond,
			Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
				close(got)
				<-block
				return nil
			}),
		})
		select {
		case <-got:
		case <-time.After(20 * time.Second):
			t.Fatalf("delivery %d did not arrive", i+1)
		}
		nc.Close()
		close(block)
		stop()
	}
	var handled atomic.Int32
	running(t, srv.Connect(t), agents.Config{
		Name: "crashy", Subjects: []string{"webhooks.>"}, AckWait: 500 * time.Millisecond, MaxDeliver: 2,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error { handled.Add(1); return nil }),
	})
	waitFor(t, "dead letter after the crash loop", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.crashy")) == 1 })
	if handled.Load() != 0 {
		t.Fatal("the third delivery was handled instead of dead-lettered")
	}
}
