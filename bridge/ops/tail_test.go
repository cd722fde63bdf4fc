package ops_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge/ops"
	"github.com/nats-io/nats.go"
)

func TestTail(t *testing.T) {
	b := startBus(t)
	b.webhook(t, 1, `{"n":1}`) // before the tail: not shown
	ctx, cancel := context.WithCancel(ctxT(t))
	got := make(chan ops.Message, 10)
	done := make(chan error, 1)
	go func() {
		done <- ops.Tail(ctx, b.js, ops.TailOptions{Filter: "*.demo.>"}, func(m ops.Message) error {
			got <- m
			return nil
		})
	}()
	// The tail starts with the next event: publish until it shows one.
	var first ops.Message
	for n := 2; first.Seq == 0; n++ {
		b.webhook(t, n, "line one\nline two")
		select {
		case first = <-got:
		case <-time.After(200 * time.Millisecond):
		}
	}
	if first.ID == "demo:1" || first.Subject != "webhooks.demo.lead.created" || first.Size != 17 || string(first.Data) != "line one\nline two" {
		t.Fatalf("tailed %+v", first)
	}
	m := nats.NewMsg("agents.demo.events.x")
	m.Data = []byte("x")
	if _, err := b.js.PublishMsg(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case m := <-got:
			if m.Subject != "agents.demo.events.x" {
				continue
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the agents stream is not followed")
		}
		break
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("a stopped tail returns %v, want nil", err)
	}

	// From a time on, and a handler error stops it.
	stop := errors.New("enough")
	n := 0
	err := ops.Tail(ctxT(t), b.js, ops.TailOptions{Filter: "webhooks.demo.>", Since: time.Now().Add(-time.Hour)}, func(m ops.Message) error {
		if n++; n == 2 {
			return stop
		}
		if m.ID != "demo:1" {
			t.Errorf("first event since an hour ago: %s", m.ID)
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("tail ended with %v", err)
	}
	for _, f := range []string{"webhooks..x", "a.>.b", "other.x"} {
		if err := ops.Tail(ctxT(t), b.js, ops.TailOptions{Filter: f}, nil); !errors.Is(err, ops.ErrInvalid) {
			t.Errorf("Tail filter %q: %v, want ErrInvalid", f, err)
		}
	}
}
