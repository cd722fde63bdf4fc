package agents_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/agentstest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// consumerInfo reads the agent's consumer on the WEBHOOKS stream; a consumer not created
// yet reads as empty.
func consumerInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, subjects.StreamWebhooks, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return &jetstream.ConsumerInfo{}
	}
	if err != nil {
		t.Fatalf("consumer %s: %v", name, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("consumer %s info: %v", name, err)
	}
	return info
}

// handledLog records what a handler saw, in order.
type handledLog struct {
	mu       sync.Mutex
	ids      []string
	attempts map[string][]int
}

func (l *handledLog) add(ev *agents.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.attempts == nil {
		l.attempts = make(map[string][]int)
	}
	l.ids = append(l.ids, ev.ID)
	l.attempts[ev.ID] = append(l.attempts[ev.ID], ev.Attempt)
}

func (l *handledLog) snapshot() ([]string, map[string][]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	att := make(map[string][]int, len(l.attempts))
	for k, v := range l.attempts {
		att[k] = slices.Clone(v)
	}
	return slices.Clone(l.ids), att
}

func (l *handledLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

// TestFetchAheadWindow shows one handler with events fetched ahead: the server never has
// more than MaxAckPending of them out, the handler runs one at a time, and the events are
// handled once each in the order they were stored.
func TestFetchAheadWindow(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	const window, total = 8, 40
	release := make(chan struct{})
	var busy, peak atomic.Int32
	var log handledLog
	running(t, nc, agents.Config{
		Name: "ahead", Subjects: []string{"webhooks.>"}, MaxAckPending: window,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			n := busy.Add(1)
			defer busy.Add(-1)
			if p := peak.Load(); n > p {
				peak.Store(n)
			}
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			log.add(ev)
			return nil
		}),
	})
	for i := range total {
		publishWebhook(t, js, fmt.Sprintf("github:w%02d", i), "push", nil)
	}
	waitFor(t, "the window filled", func() bool { return consumerInfo(t, js, "ahead").NumAckPending == window })
	for range 5 {
		time.Sleep(50 * time.Millisecond)
		if info := consumerInfo(t, js, "ahead"); info.NumAckPending != window || info.Delivered.Stream != window {
			t.Fatalf("with the handler blocked: %d unacknowledged, %d delivered; want %d and %d",
				info.NumAckPending, info.Delivered.Stream, window, window)
		}
	}
	close(release)
	waitFor(t, "all handled", func() bool { return log.len() == total })
	waitFor(t, "all acknowledged", func() bool {
		info := consumerInfo(t, js, "ahead")
		return info.NumAckPending == 0 && info.AckFloor.Stream == total
	})
	ids, attempts := log.snapshot()
	for i, id := range ids {
		if want := fmt.Sprintf("github:w%02d", i); id != want || len(attempts[id]) != 1 || attempts[id][0] != 1 {
			t.Fatalf("event %d handled was %s (attempts %v), want %s once, first attempt", i, id, attempts[id], want)
		}
	}
	if p := peak.Load(); p != 1 {
		t.Fatalf("%d handlers ran at once, want 1 (Concurrency)", p)
	}
}

// TestFetchedAheadKeepLease runs a handler much slower than AckWait with events waiting
// behind it: the waiting events keep their lease and are neither redelivered nor handled
// twice.
func TestFetchedAheadKeepLease(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	const ackWait, total = 500 * time.Millisecond, 8
	var log handledLog
	running(t, nc, agents.Config{
		Name: "slowpoke", Subjects: []string{"webhooks.>"}, AckWait: ackWait, MaxAckPending: 32,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			time.Sleep(300 * time.Millisecond) // the last event waits 2.1s: four AckWaits
			log.add(ev)
			return nil
		}),
	})
	for i := range total {
		publishWebhook(t, js, fmt.Sprintf("github:s%d", i), "push", nil)
	}
	waitFor(t, "all fetched ahead", func() bool { return consumerInfo(t, js, "slowpoke").Delivered.Stream == total })
	waitFor(t, "all handled", func() bool { return log.len() == total })
	time.Sleep(2 * ackWait)
	ids, attempts := log.snapshot()
	if len(ids) != total {
		t.Fatalf("handled %d times, want %d: %v", len(ids), total, ids)
	}
	for id, a := range attempts {
		if len(a) != 1 || a[0] != 1 {
			t.Errorf("event %s handled at attempts %v, want once at attempt 1", id, a)
		}
	}
	if info := consumerInfo(t, js, "slowpoke"); info.NumRedelivered != 0 || info.Delivered.Consumer != total || info.NumAckPending != 0 {
		t.Fatalf("consumer: %d redelivered, %d deliveries, %d unacknowledged; want 0, %d, 0",
			info.NumRedelivered, info.Delivered.Consumer, info.NumAckPending, total)
	}
}

// TestStopHandsBackUnstarted stops an agent while one event runs and others wait fetched
// ahead: the running one finishes and is acknowledged, the waiting ones are neither handled
// nor acknowledged, and the next run gets them at once (not after AckWait), each handled
// once. (Not necessarily in order: the server may requeue the first one handed back behind
// the others, when it finds the stopped agent's pull request gone.)
func TestStopHandsBackUnstarted(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	const total = 10
	for i := range total {
		publishWebhook(t, js, fmt.Sprintf("github:h%d", i), "push", nil)
	}
	started := make(chan struct{})
	var first handledLog
	stop := running(t, srv.Connect(t), agents.Config{
		Name: "handback", Subjects: []string{"webhooks.>"}, AckWait: time.Minute,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			if first.len() == 0 {
				close(started)
				time.Sleep(300 * time.Millisecond)
			}
			first.add(ev)
			return nil
		}),
	})
	<-started
	waitFor(t, "all fetched ahead", func() bool { return consumerInfo(t, js, "handback").Delivered.Stream == total })
	stop()
	if ids, _ := first.snapshot(); len(ids) != 1 || ids[0] != "github:h0" {
		t.Fatalf("before stopping the agent handled %v, want only the running github:h0", ids)
	}
	info := consumerInfo(t, js, "handback")
	if info.AckFloor.Stream != 1 || info.NumAckPending != total-1 {
		t.Fatalf("after stop: ack floor %d, %d unacknowledged; want 1 and %d", info.AckFloor.Stream, info.NumAckPending, total-1)
	}

	var second handledLog
	running(t, srv.Connect(t), agents.Config{
		Name: "handback", Subjects: []string{"webhooks.>"}, AckWait: time.Minute,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			second.add(ev)
			return nil
		}),
	})
	waitFor(t, "the handed-back events", func() bool { return second.len() == total-1 })
	_, attempts := second.snapshot()
	for i := 1; i < total; i++ {
		if id := fmt.Sprintf("github:h%d", i); len(attempts[id]) != 1 || attempts[id][0] != 2 {
			t.Errorf("second run: %s handled at attempts %v; want once at attempt 2", id, attempts[id])
		}
	}
	waitFor(t, "all acknowledged", func() bool {
		info := consumerInfo(t, js, "handback")
		return info.NumAckPending == 0 && info.AckFloor.Stream == total
	})
}

// TestCrashLoopSparesFetchedAhead crashes an agent on a poison event twice while the events
// after it were fetched ahead: only the poison event is dead-lettered; the others were not
// fetched again while it crashed the agent, and are handled.
func TestCrashLoopSparesFetchedAhead(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	const ackWait, others = 500 * time.Millisecond, 5
	publishWebhook(t, js, "github:poison", "push", nil)
	for i := range others {
		publishWebhook(t, js, fmt.Sprintf("github:ok%d", i), "push", nil)
	}
	cfg := func(h agents.HandlerFunc) agents.Config {
		return agents.Config{Name: "fragile", Subjects: []string{"webhooks.>"}, AckWait: ackWait, MaxDeliver: 2,
			StopTimeout: 10 * time.Millisecond, Handler: h}
	}
	for i := range 2 {
		nc := srv.Connect(t)
		got := make(chan struct{})
		block := make(chan struct{})
		stop := running(t, nc, cfg(func(ctx context.Context, ev *agents.Event) error {
			if ev.ID != "github:poison" {
				return errors.New("not reached in a crashing run")
			}
			close(got)
			<-block
			return nil
		}))
		select {
		case <-got:
		case <-time.After(20 * time.Second):
			t.Fatalf("delivery %d of the poison event did not arrive", i+1)
		}
		if i == 0 {
			waitFor(t, "the others fetched ahead", func() bool { return consumerInfo(t, js, "fragile").Delivered.Stream == others+1 })
		}
		nc.Close() // the process dies: nothing is acknowledged or handed back
		close(block)
		stop()
	}
	var log handledLog
	running(t, srv.Connect(t), cfg(func(ctx context.Context, ev *agents.Event) error {
		log.add(ev)
		return nil
	}))
	waitFor(t, "the others handled", func() bool { return log.len() == others })
	waitFor(t, "the dead letter", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.fragile")) > 0 })
	time.Sleep(200 * time.Millisecond)
	dl := streamMsgs(t, js, subjects.StreamDLQ, "dlq.fragile")
	if len(dl) != 1 || dl[0].Header.Get(subjects.HeaderID) != "github:poison" {
		var ids []string
		for _, m := range dl {
			ids = append(ids, m.Header.Get(subjects.HeaderID))
		}
		t.Fatalf("dead letters %v, want the poison event alone", ids)
	}
	_, attempts := log.snapshot()
	for i := range others {
		id := fmt.Sprintf("github:ok%d", i)
		if a := attempts[id]; len(a) != 1 || a[0] != 2 {
			t.Errorf("%s handled at attempts %v, want once at attempt 2 (fetched ahead once before)", id, a)
		}
	}
	if _, ok := attempts["github:poison"]; ok {
		t.Error("the poison event was handled instead of dead-lettered")
	}
}

// TestRecoveryEndsWithoutTheLeftEvents starts an agent whose consumer holds an event of an
// earlier run that will not come back for an hour (a retry's backoff): once AckWait has
// passed, the first new event ends the recovery, and the agent fetches ahead again.
func TestRecoveryEndsWithoutTheLeftEvents(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	const ackWait = 400 * time.Millisecond
	cfg := func(h agents.HandlerFunc) agents.Config {
		return agents.Config{Name: "patient", Subjects: []string{"webhooks.>"}, AckWait: ackWait,
			Backoff: []time.Duration{time.Hour}, MaxAckPending: 16, Handler: h}
	}
	failed := make(chan struct{})
	stop := running(t, srv.Connect(t), cfg(func(ctx context.Context, ev *agents.Event) error {
		close(failed)
		return errors.New("try again in an hour")
	}))
	publishWebhook(t, js, "github:later", "push", nil)
	<-failed
	stop()

	release := make(chan struct{})
	var log handledLog
	running(t, srv.Connect(t), cfg(func(ctx context.Context, ev *agents.Event) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		log.add(ev)
		return nil
	}))
	time.Sleep(ackWait + ackWait/2)
	for i := range 6 {
		publishWebhook(t, js, fmt.Sprintf("github:x%d", i), "push", nil)
	}
	// Recovering, the agent would hold one new event, blocked in the handler, and fetch no
	// more.
	waitFor(t, "the new events fetched ahead", func() bool { return consumerInfo(t, js, "patient").Delivered.Stream == 7 })
	close(release)
	waitFor(t, "the new events handled", func() bool { return log.len() == 6 })
	if info := consumerInfo(t, js, "patient"); info.NumAckPending < 1 {
		t.Fatalf("the event retried in an hour is no longer pending (%d unacknowledged)", info.NumAckPending)
	}
}
