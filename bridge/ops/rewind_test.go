package ops_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/bridge/ops"
	"github.com/hookbus/hookbus/subjects"
)

// TestRewind rewinds one agent by sequence and another by time, while both run, and a
// third while it is stopped: each re-handles exactly its range, the others nothing.
func TestRewind(t *testing.T) {
	b := startBus(t)
	a := newAgent(t, b, "alpha", "webhooks.demo.>")
	bb := newAgent(t, b, "beta", "webhooks.demo.>")
	b.webhooks(t, 1, 10)
	a.handled(t, 10)
	bb.handled(t, 10)

	res, err := ops.Rewind(ctxT(t), b.js, ops.RewindOptions{Agent: "alpha", FromSeq: 6})
	if err != nil {
		t.Fatal(err)
	}
	// alpha also reads its replay subject on AGENTS: copies sent to it once, left alone.
	if len(res.Consumers) != 2 || res.Consumers[0].From != 6 || res.Consumers[0].Redeliver != 5 || res.Consumers[0].Stream != subjects.StreamWebhooks ||
		res.Consumers[1].Stream != subjects.StreamAgents || res.Consumers[1].From != 0 || !slices.Equal(res.Consumers[1].Filters, []string{ops.ReplayFilter("alpha")}) {
		t.Fatalf("rewind result: %+v", res)
	}
	b.webhook(t, 11, `{"n":11}`) // a marker after the rewound range
	a.handled(t, 16)
	bb.handled(t, 11)
	if want := ids(append(append(span(1, 10), span(6, 10)...), 11)...); !slices.Equal(a.ids(), want) {
		t.Fatalf("alpha handled %v, want %v", a.ids(), want)
	}
	for _, e := range a.events()[10:15] {
		if e.Replay || e.Attempt != 1 {
			t.Fatalf("a rewound event is the original, first attempt: %+v", e)
		}
	}

	// By time: beta from the event stored at seq 9 on.
	since := storedAt(t, b.js, subjects.StreamWebhooks, 9).Time
	if _, err := ops.Rewind(ctxT(t), b.js, ops.RewindOptions{Agent: "beta", Since: since}); err != nil {
		t.Fatal(err)
	}
	b.webhook(t, 12, `{"n":12}`)
	bb.handled(t, 15)
	a.handled(t, 17)
	if want := ids(append(span(1, 11), 9, 10, 11, 12)...); !slices.Equal(bb.ids(), want) {
		t.Fatalf("beta handled %v, want %v", bb.ids(), want)
	}

	// A stopped agent gets its range when it starts again.
	a.stop()
	if _, err := ops.Rewind(ctxT(t), b.js, ops.RewindOptions{Agent: "alpha", FromSeq: 11}); err != nil {
		t.Fatal(err)
	}
	a.start(t)
	a.handled(t, 19)
	if got := a.ids()[17:]; !slices.Equal(got, ids(11, 12)) {
		t.Fatalf("alpha after a restart handled %v, want demo:11, demo:12", got)
	}
	bb.handled(t, 15)
}

// TestRewindRefusals checks that bad arguments and unsafe rewinds are refused with a clear
// error and leave every consumer as it was.
func TestRewindRefusals(t *testing.T) {
	b := startBus(t)
	a := newAgent(t, b, "alpha", "webhooks.demo.>")
	two := newAgent(t, b, "two", "webhooks.demo.>", "agents.other.events.>")
	stuck := newAgentWith(t, b, "stuck", func(a *agent) {
		a.cfg.Backoff = []time.Duration{time.Hour}
		a.cfg.Concurrency = 4 // the waiting retry must not hold back the rest
		a.fail = func(ev *agents.Event) error {
			if ev.ID == "demo:3" {
				return errors.New("cannot handle 3 yet")
			}
			return nil
		}
	}, "webhooks.demo.>")
	b.webhooks(t, 1, 6)
	a.handled(t, 6)
	two.handled(t, 6)
	stuck.handled(t, 5) // all but demo:3, which waits for its retry

	before := map[string][3]uint64{}
	for _, n := range []string{"alpha", "two", "stuck"} {
		before[n] = consumerState(t, b.js, subjects.StreamWebhooks, n)
	}
	tests := []struct {
		name string
		o    ops.RewindOptions
		want error
	}{
		{"no agent", ops.RewindOptions{FromSeq: 1}, ops.ErrInvalid},
		{"bad name", ops.RewindOptions{Agent: "Al pha", FromSeq: 1}, ops.ErrInvalid},
		{"unknown agent", ops.RewindOptions{Agent: "gamma", FromSeq: 1}, ops.ErrUnknownAgent},
		{"no point", ops.RewindOptions{Agent: "alpha"}, ops.ErrInvalid},
		{"two points", ops.RewindOptions{Agent: "alpha", FromSeq: 1, Since: time.Now().Add(-time.Hour)}, ops.ErrInvalid},
		{"future", ops.RewindOptions{Agent: "alpha", Since: time.Now().Add(time.Hour)}, ops.ErrInvalid},
		{"past the end", ops.RewindOptions{Agent: "alpha", FromSeq: 99}, ops.ErrInvalid},
		{"bad stream", ops.RewindOptions{Agent: "alpha", FromSeq: 1, Stream: "nope"}, ops.ErrInvalid},
		{"no consumer on stream", ops.RewindOptions{Agent: "alpha", FromSeq: 1, Stream: "dlq"}, ops.ErrUnknownAgent},
		{"sequence of which stream", ops.RewindOptions{Agent: "two", FromSeq: 1}, ops.ErrInvalid},
		{"over an unacknowledged event", ops.RewindOptions{Agent: "stuck", FromSeq: 5}, ops.ErrUnacked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ops.Rewind(ctxT(t), b.js, tt.o)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Rewind(%+v) = %v, want %v", tt.o, err, tt.want)
			}
			t.Log(err)
		})
	}
	// A dry run plans and moves nothing.
	res, err := ops.Rewind(ctxT(t), b.js, ops.RewindOptions{Agent: "alpha", FromSeq: 2, DryRun: true})
	if err != nil || !res.DryRun || res.Consumers[0].From != 2 || res.Consumers[0].Redeliver != 5 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	for n, st := range before {
		if got := consumerState(t, b.js, subjects.StreamWebhooks, n); got != st {
			t.Errorf("consumer %s changed: %v, was %v", n, got, st)
		}
	}
	// Rewinding to the unacknowledged event itself is safe.
	if _, err := ops.Rewind(ctxT(t), b.js, ops.RewindOptions{Agent: "stuck", FromSeq: 3}); err != nil {
		t.Fatalf("rewind to the unacknowledged event: %v", err)
	}
	// With the stream named, an agent reading two streams can be rewound by sequence.
	if _, err := ops.Rewind(ctxT(t), b.js, ops.RewindOptions{Agent: "two", FromSeq: 6, Stream: "WEBHOOKS"}); err != nil {
		t.Fatal(err)
	}
	two.handled(t, 7)
	a.handled(t, 6)
}
