package ops_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge/ops"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestReplay replays bounded ranges to every reader, to one agent, and again under the
// same run; copies are marked and carry the original id, bounds hold, and a dry run
// changes nothing. The agent that copies are sent to alone does not list its replay
// subject: it reads it by itself, and handles each copy under the original subject; no
// other agent handles them, not even one that reads every agent subject.
func TestReplay(t *testing.T) {
	b := startBus(t)
	a := newAgent(t, b, "alpha", "webhooks.demo.>")
	bb := newAgent(t, b, "beta", "webhooks.demo.>")
	audit := newAgent(t, b, "audit", "agents.>")
	b.webhooks(t, 1, 10)
	a.handled(t, 10)
	bb.handled(t, 10)

	// Dry run: everything reported, nothing stored.
	var planned []ops.Replayed
	res, err := ops.Replay(ctxT(t), b.js, ops.ReplayOptions{Subject: "webhooks.demo.>", Range: ops.Range{FromSeq: 3, ToSeq: 6},
		DryRun: true, Run: "dry", Each: func(r ops.Replayed) { planned = append(planned, r) }})
	if err != nil || res.Total != 4 || res.Sent != 0 || len(planned) != 4 || planned[0].Seq != 3 || planned[3].Seq != 6 {
		t.Fatalf("dry run: %+v %v, planned %+v", res, err, planned)
	}
	if planned[0].MsgID != "replay:dry:demo:3" || planned[0].To != "webhooks.demo.lead.created" {
		t.Fatalf("dry run plan: %+v", planned[0])
	}
	if got := lastSeq(t, b.js, subjects.StreamWebhooks); got != 10 {
		t.Fatalf("dry run stored something: last seq %d", got)
	}

	// To every reader of the subject.
	var progress []uint64
	res, err = ops.Replay(ctxT(t), b.js, ops.ReplayOptions{Subject: "webhooks.demo.>", Range: ops.Range{FromSeq: 3, ToSeq: 6}, Run: "r1",
		Progress: func(done, total uint64) { progress = append(progress, done, total) }})
	if err != nil || res.Total != 4 || res.Sent != 4 || res.Duplicates != 0 || res.Done != 6 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if !slices.Equal(progress[len(progress)-2:], []uint64{4, 4}) {
		t.Fatalf("progress %v", progress)
	}
	a.handled(t, 14)
	bb.handled(t, 14)
	for _, ag := range []*agent{a, bb} {
		for i, e := range ag.events()[10:] {
			want := ids(3 + i)[0]
			if e.ID != want || !e.Replay || e.ReplayOf != want || e.Subject != "webhooks.demo.lead.created" {
				t.Fatalf("%s: replayed event %+v, want id %s marked as a replay of it", ag.name, e, want)
			}
		}
	}
	copy11 := storedAt(t, b.js, subjects.StreamWebhooks, 11)
	if copy11.Header.Get(subjects.HeaderMsgID) != "replay:r1:demo:3" || copy11.Header.Get(ops.HeaderReplaySequence) != "3" ||
		copy11.Header.Get(ops.HeaderReplayRun) != "r1" || copy11.Header.Get(subjects.HeaderID) != "demo:3" {
		t.Fatalf("copy headers: %v", copy11.Header)
	}

	// The same run again (a resumed replay) stores nothing twice.
	res, err = ops.Replay(ctxT(t), b.js, ops.ReplayOptions{Subject: "webhooks.demo.>", Range: ops.Range{FromSeq: 3, ToSeq: 6}, Run: "r1"})
	if err != nil || res.Sent != 4 || res.Duplicates != 4 {
		t.Fatalf("repeated run: %+v %v", res, err)
	}
	if got := lastSeq(t, b.js, subjects.StreamWebhooks); got != 14 {
		t.Fatalf("repeated run stored copies: last seq %d", got)
	}

	// To alpha alone, by time: the events stored from seq 8 to seq 9.
	since := storedAt(t, b.js, subjects.StreamWebhooks, 8).Time
	until := storedAt(t, b.js, subjects.StreamWebhooks, 9).Time
	res, err = ops.Replay(ctxT(t), b.js, ops.ReplayOptions{Subject: "webhooks.demo.>", Range: ops.Range{Since: since, Until: until}, ToAgent: "alpha"})
	if err != nil || res.FirstSeq != 8 || res.LastSeq != 9 || res.Sent != 2 {
		t.Fatalf("replay to alpha: %+v %v", res, err)
	}
	b.webhook(t, 11, `{"n":11}`)
	a.handled(t, 17)
	bb.handled(t, 15)
	// The copies come from the AGENTS stream, the marker from WEBHOOKS: no order between them.
	var copies []string
	for _, e := range a.events()[14:] {
		if e.Stream == subjects.StreamAgents && e.Subject == "webhooks.demo.lead.created" && e.Replay && e.ReplayOf == e.ID {
			copies = append(copies, e.ID)
		}
	}
	if !slices.Equal(copies, ids(8, 9)) {
		t.Fatalf("alpha's copies: %v in %+v", copies, a.events()[14:])
	}
	if got := storedAt(t, b.js, subjects.StreamAgents, 1).Subject; got != ops.ReplaySubject("alpha", "webhooks.demo.lead.created") {
		t.Fatalf("copy for alpha stored under %s", got)
	}
	audit.settled(t, b.js, subjects.StreamAgents)
	if got := audit.events(); len(got) != 0 {
		t.Fatalf("audit, reading agents.>, handled alpha's copies: %+v", got)
	}

	// Everything from the start (10 events, 4 copies, 1 more event; the copies for alpha
	// went to AGENTS): the copies of earlier replays are skipped.
	res, err = ops.Replay(ctxT(t), b.js, ops.ReplayOptions{Subject: "webhooks.demo.>", Range: ops.Range{FromSeq: 1}, DryRun: true})
	if err != nil || res.Total != 15 || res.Skipped != 4 {
		t.Fatalf("dry replay of everything: %+v %v", res, err)
	}
	res, err = ops.Replay(ctxT(t), b.js, ops.ReplayOptions{Subject: "webhooks.demo.>", Range: ops.Range{FromSeq: 1}, DryRun: true, IncludeReplays: true})
	if err != nil || res.Skipped != 0 {
		t.Fatalf("dry replay including replays: %+v %v", res, err)
	}
	// A range past the events is empty, not an error.
	res, err = ops.Replay(ctxT(t), b.js, ops.ReplayOptions{Subject: "webhooks.other.>", Range: ops.Range{FromSeq: 1}})
	if err != nil || res.Total != 0 || res.Sent != 0 {
		t.Fatalf("empty range: %+v %v", res, err)
	}
}

// TestReplayRefusals checks that bad arguments are refused before anything is stored.
func TestReplayRefusals(t *testing.T) {
	b := startBus(t)
	newAgent(t, b, "beta", "webhooks.demo.>")
	// An agent on another client, whose consumer does not read its replay subject.
	if _, err := b.js.CreateOrUpdateConsumer(ctxT(t), subjects.StreamWebhooks, jetstream.ConsumerConfig{
		Durable: "labeler", FilterSubjects: []string{"webhooks.demo.>"}, AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	b.webhooks(t, 1, 3)
	now := time.Now()
	tests := []struct {
		name string
		o    ops.ReplayOptions
		want error
	}{
		{"no subject", ops.ReplayOptions{Range: ops.Range{FromSeq: 1}}, ops.ErrInvalid},
		{"bad filter", ops.ReplayOptions{Subject: "webhooks..x", Range: ops.Range{FromSeq: 1}}, ops.ErrInvalid},
		{"dead letters", ops.ReplayOptions{Subject: "dlq.beta", Range: ops.Range{FromSeq: 1}}, ops.ErrInvalid},
		{"every stream", ops.ReplayOptions{Subject: ">", Range: ops.Range{FromSeq: 1}}, ops.ErrInvalid},
		{"no start", ops.ReplayOptions{Subject: "webhooks.>"}, ops.ErrInvalid},
		{"inverted seqs", ops.ReplayOptions{Subject: "webhooks.>", Range: ops.Range{FromSeq: 3, ToSeq: 2}}, ops.ErrInvalid},
		{"inverted times", ops.ReplayOptions{Subject: "webhooks.>", Range: ops.Range{Since: now, Until: now.Add(-time.Hour)}}, ops.ErrInvalid},
		{"two targets", ops.ReplayOptions{Subject: "webhooks.>", Range: ops.Range{FromSeq: 1}, ToAgent: "beta", ToSubject: "webhooks.x.y"}, ops.ErrInvalid},
		{"wildcard target", ops.ReplayOptions{Subject: "webhooks.>", Range: ops.Range{FromSeq: 1}, ToSubject: "webhooks.x.*"}, ops.ErrInvalid},
		{"dlq target", ops.ReplayOptions{Subject: "webhooks.>", Range: ops.Range{FromSeq: 1}, ToSubject: "dlq.beta"}, ops.ErrInvalid},
		{"bad run", ops.ReplayOptions{Subject: "webhooks.>", Range: ops.Range{FromSeq: 1}, Run: "a:b"}, ops.ErrInvalid},
		{"unknown agent", ops.ReplayOptions{Subject: "webhooks.>", Range: ops.Range{FromSeq: 1}, ToAgent: "gamma"}, ops.ErrUnknownAgent},
		{"agent without replay subject", ops.ReplayOptions{Subject: "webhooks.>", Range: ops.Range{FromSeq: 1}, ToAgent: "labeler"}, ops.ErrNoReplaySubject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ops.Replay(ctxT(t), b.js, tt.o)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Replay = %v, want %v", err, tt.want)
			}
			t.Log(err)
		})
	}
	if got := lastSeq(t, b.js, subjects.StreamWebhooks); got != 3 {
		t.Fatalf("a refused replay stored something: last seq %d", got)
	}
	if got := lastSeq(t, b.js, subjects.StreamAgents); got != 0 {
		t.Fatalf("a refused replay stored something on AGENTS: last seq %d", got)
	}
}

// TestReplayInterruptedAndResumed stops a replay part-way, as Ctrl-C does, and resumes it
// from where it says it got to, under the same run: every event is copied exactly once.
func TestReplayInterruptedAndResumed(t *testing.T) {
	b := startBus(t)
	const n = 1500
	for i := 1; i <= n; i++ {
		m := nats.NewMsg("webhooks.bulk.x")
		m.Header.Set(subjects.HeaderID, fmt.Sprintf("bulk:%d", i))
		if _, err := b.js.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-b.js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		t.Fatal("bulk publish not acknowledged")
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	o := ops.ReplayOptions{Subject: "webhooks.bulk.>", Range: ops.Range{FromSeq: 1, ToSeq: n}, Run: "bulk", Window: 64,
		Progress: func(done, total uint64) {
			if done >= 200 {
				cancel()
			}
		}}
	res, err := ops.Replay(ctx, b.js, o)
	if !errors.Is(err, ops.ErrInterrupted) || !res.Interrupted || res.Done < 200 || res.Done >= n {
		t.Fatalf("interrupted replay: %+v %v", res, err)
	}
	if stored := lastSeq(t, b.js, subjects.StreamWebhooks) - n; stored < res.Sent {
		t.Fatalf("%d copies reported stored, %d in the stream", res.Sent, stored)
	}
	o.Progress = nil
	o.Range.FromSeq = res.Done + 1
	rest, err := ops.Replay(ctxT(t), b.js, o)
	if err != nil || res.Sent+rest.Sent != n || rest.Total != n-res.Done {
		t.Fatalf("resumed replay: %+v %v (first part %+v)", rest, err, res)
	}
	if got := lastSeq(t, b.js, subjects.StreamWebhooks); got != 2*n {
		t.Fatalf("after the resumed replay the stream holds %d, want %d: every event copied once", got, 2*n)
	}
}
