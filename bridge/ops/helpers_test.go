package ops_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bus is a real JetStream with the hookbus streams and buckets, as the bridge creates them.
type bus struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

func startBus(t *testing.T) *bus {
	t.Helper()
	s := embeddedtest.Start(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bridge.EnsureStreams(ctx, js, subjects.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return &bus{url: s.ClientURL(), nc: nc, js: js}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// webhook stores event n of the demo source as the bridge would: id "demo:<n>".
func (b *bus) webhook(t *testing.T, n int, body string) uint64 {
	t.Helper()
	m := nats.NewMsg(subjects.Webhook("demo", "lead.created"))
	id := fmt.Sprintf("demo:%d", n)
	m.Header.Set(subjects.HeaderSpecVersion, subjects.SpecVersion)
	m.Header.Set(subjects.HeaderID, id)
	m.Header.Set(subjects.HeaderMsgID, id)
	m.Header.Set(subjects.HeaderSource, "/webhooks/demo")
	m.Header.Set(subjects.HeaderType, "lead.created")
	m.Header.Set(subjects.HeaderTime, time.Now().UTC().Format(time.RFC3339Nano))
	m.Data = []byte(body)
	ack, err := b.js.PublishMsg(ctxT(t), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// webhooks stores events from..to.
func (b *bus) webhooks(t *testing.T, from, to int) {
	t.Helper()
	for n := from; n <= to; n++ {
		b.webhook(t, n, fmt.Sprintf(`{"n":%d}`, n))
	}
}

// seen is one event an agent handled.
type seen struct {
	ID       string
	Subject  string
	Stream   string
	Seq      uint64
	Replay   bool
	Attempt  int
	ReplayOf string
}

// agent is a real agent (package agents) that records what it handles.
type agent struct {
	name string
	cfg  agents.Config
	nc   *nats.Conn

	mu   sync.Mutex
	seen []seen
	fail func(ev *agents.Event) error

	stop func()
}

func newAgent(t *testing.T, b *bus, name string, filters ...string) *agent {
	t.Helper()
	return newAgentWith(t, b, name, nil, filters...)
}

// newAgentWith is newAgent with a chance to adjust the agent before it starts.
func newAgentWith(t *testing.T, b *bus, name string, adjust func(*agent), filters ...string) *agent {
	t.Helper()
	a := &agent{name: name, nc: b.nc}
	a.cfg = agents.Config{
		Name:     name,
		Subjects: filters,
		Backoff:  []time.Duration{50 * time.Millisecond},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			a.mu.Lock()
			fail := a.fail
			a.mu.Unlock()
			if fail != nil {
				if err := fail(ev); err != nil {
					return err
				}
			}
			a.mu.Lock()
			a.seen = append(a.seen, seen{ID: ev.ID, Subject: ev.Subject, Stream: ev.Stream, Seq: ev.Sequence, Replay: ev.Replay,
				Attempt: ev.Attempt, ReplayOf: ev.Header.Get("Hookbus-Replay-Of")})
			a.mu.Unlock()
			return nil
		}),
	}
	if adjust != nil {
		adjust(a)
	}
	a.start(t)
	return a
}

// start runs the agent until stop or the end of the test.
func (a *agent) start(t *testing.T) {
	t.Helper()
	ag, err := agents.New(a.nc, a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	var once sync.Once
	a.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent %s: %v", a.name, err)
			}
		})
	}
	t.Cleanup(a.stop)
	// Run creates its consumers first: wait for them, on the streams of its filters and on
	// AGENTS (its replay subject).
	js, _ := jetstream.New(a.nc)
	streams := []string{subjects.StreamAgents}
	for _, f := range a.cfg.Subjects {
		streams = append(streams, subjects.StreamFor(f))
	}
	waitFor(t, "consumers of "+a.name, func() bool {
		for _, s := range streams {
			if _, err := js.Consumer(context.Background(), s, a.name); err != nil {
				return false
			}
		}
		return true
	})
}

func (a *agent) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, len(a.seen))
	for i, s := range a.seen {
		out[i] = s.ID
	}
	return out
}

func (a *agent) events() []seen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// handled waits until the agent has handled n events.
func (a *agent) handled(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s handles %d events", a.name, n), func() bool { return len(a.ids()) >= n })
	if got := len(a.ids()); got != n {
		t.Fatalf("%s handled %d events, want %d: %v", a.name, got, n, a.ids())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ids lists "demo:<n>" for n in ns.
func ids(ns ...int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = fmt.Sprintf("demo:%d", n)
	}
	return out
}

// span lists from..to.
func span(from, to int) []int {
	var out []int
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}

// settled waits until the agent's consumer on stream has been delivered everything stored
// there and has acknowledged it.
func (a *agent) settled(t *testing.T, js jetstream.JetStream, stream string) {
	t.Helper()
	last := lastSeq(t, js, stream)
	waitFor(t, a.name+" settles "+stream, func() bool {
		c, err := js.Consumer(context.Background(), stream, a.name)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream >= last
	})
}

// consumerState is what a rewind may change about a consumer.
func consumerState(t *testing.T, js jetstream.JetStream, stream, name string) [3]uint64 {
	t.Helper()
	c, err := js.Consumer(ctxT(t), stream, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return [3]uint64{info.Delivered.Stream, info.AckFloor.Stream, info.NumPending}
}

func lastSeq(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(ctxT(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

func storedAt(t *testing.T, js jetstream.JetStream, stream string, seq uint64) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(ctxT(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctxT(t), seq)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
