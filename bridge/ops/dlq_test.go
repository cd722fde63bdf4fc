package ops_test

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/bridge/ops"
	"github.com/hookbus/hookbus/subjects"
)

// TestDeadLetters dead-letters events with a real agent, lists and shows them, refuses
// unsafe or unselective redrives, redrives one to the fixed agent (which handles it,
// marked as a replay, under its original subject: it goes through the agent's replay
// subject, which the agent reads without listing it) and purges the rest.
func TestDeadLetters(t *testing.T) {
	b := startBus(t)
	var fixed atomic.Bool
	c := newAgentWith(t, b, "crm", func(a *agent) {
		a.fail = func(ev *agents.Event) error {
			if strings.Contains(string(ev.Data), "bad") && !fixed.Load() {
				return agents.Permanent(errors.New("cannot parse lead"))
			}
			return nil
		}
	}, "webhooks.demo.>")
	w := newAgent(t, b, "watch", "webhooks.demo.>")
	b.webhook(t, 1, `{"lead":"ada"}`)
	b.webhook(t, 2, `{"lead":"bad one"}`)
	b.webhook(t, 3, `{"lead":"bad two"}`)
	c.handled(t, 1)
	w.handled(t, 3)
	var dls []ops.DeadLetter
	waitFor(t, "two dead letters", func() bool {
		var err error
		dls, err = ops.DeadLetters(ctxT(t), b.js, ops.DLQFilter{Agent: "crm"})
		return err == nil && len(dls) == 2
	})
	d := dls[0]
	if d.Agent != "crm" || !strings.Contains(d.Reason, "cannot parse lead") || d.Attempts != 1 || d.Subject != "webhooks.demo.lead.created" ||
		d.Stream != subjects.StreamWebhooks || d.Sequence != 2 || d.ID != "demo:2" || d.Size != len(`{"lead":"bad one"}`) || d.Time.IsZero() {
		t.Fatalf("dead letter: %+v", d)
	}
	shown, err := ops.ShowDeadLetter(ctxT(t), b.js, d.Seq)
	if err != nil || string(shown.Data) != `{"lead":"bad one"}` || shown.Header.Get(subjects.HeaderID) != "demo:2" {
		t.Fatalf("show: %+v %v", shown, err)
	}
	if _, err := ops.ShowDeadLetter(ctxT(t), b.js, 999); !errors.Is(err, ops.ErrNotFound) {
		t.Fatalf("show unknown: %v", err)
	}
	if got, err := ops.DeadLetters(ctxT(t), b.js, ops.DLQFilter{Reason: "PARSE", Subject: "webhooks.demo.>"}); err != nil || len(got) != 2 {
		t.Fatalf("filtered list: %v %v", got, err)
	}
	if got, err := ops.DeadLetters(ctxT(t), b.js, ops.DLQFilter{Agent: "watch"}); err != nil || len(got) != 0 {
		t.Fatalf("watch's dead letters: %v %v", got, err)
	}
	all, err := ops.Agents(ctxT(t), b.js)
	if err != nil || len(all) != 2 || all[0].Name != "crm" || all[0].DeadLetters != 2 || all[1].DeadLetters != 0 ||
		!all[0].Pulling || len(all[0].Consumers) != 2 || all[0].LastActive.IsZero() {
		t.Fatalf("agents: %+v %v", all, err)
	}

	// Refusals change nothing.
	for name, o := range map[string]ops.RedriveOptions{
		"no selection":   {Filter: ops.DLQFilter{Agent: "crm"}},
		"too recent":     {Filter: ops.DLQFilter{Agent: "crm"}, All: true},
		"bad via":        {Filter: ops.DLQFilter{Agent: "crm"}, All: true, Via: "mail"},
		"unknown seq":    {Filter: ops.DLQFilter{Seqs: []uint64{42}}, Force: true},
		"another's seq":  {Filter: ops.DLQFilter{Agent: "watch", Seqs: []uint64{d.Seq}}, Force: true},
		"seq 0":          {Filter: ops.DLQFilter{Seqs: []uint64{0}}, Force: true},
		"bad agent name": {Filter: ops.DLQFilter{Agent: "C R M"}, All: true},
	} {
		res, err := ops.Redrive(ctxT(t), b.js, o)
		if err == nil || len(res.Redriven) != 0 {
			t.Errorf("%s: %+v %v, want an error", name, res, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := ops.Redrive(ctxT(t), b.js, ops.RedriveOptions{Filter: ops.DLQFilter{Agent: "crm"}, All: true}); !errors.Is(err, ops.ErrTooRecent) {
		t.Fatalf("young dead letters: %v, want ErrTooRecent", err)
	}

	// A dry run through the original subject names the other reader.
	dry, err := ops.Redrive(ctxT(t), b.js, ops.RedriveOptions{Filter: ops.DLQFilter{Agent: "crm"}, All: true, Via: ops.ViaSubject, Force: true, DryRun: true})
	if err != nil || len(dry.Redriven) != 2 || !slices.Equal(dry.Redriven[0].AlsoTo, []string{"watch"}) {
		t.Fatalf("dry redrive: %+v %v", dry, err)
	}

	// Redrive the first, to crm alone, now that it is fixed.
	fixed.Store(true)
	res, err := ops.Redrive(ctxT(t), b.js, ops.RedriveOptions{Filter: ops.DLQFilter{Seqs: []uint64{d.Seq}}, Force: true})
	if err != nil || len(res.Redriven) != 1 || res.Redriven[0].Via != ops.ViaAgent || res.Redriven[0].To != ops.ReplaySubject("crm", d.Subject) {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	c.handled(t, 2)
	if e := c.events()[1]; e.ID != "demo:2" || !e.Replay || e.ReplayOf != "demo:2" || e.Subject != d.Subject || e.Stream != subjects.StreamAgents {
		t.Fatalf("redriven event handled as %+v", e)
	}
	b.webhook(t, 4, `{"lead":"grace"}`)
	w.handled(t, 4) // watch got nothing of the redrive
	c.handled(t, 3)
	left, err := ops.DeadLetters(ctxT(t), b.js, ops.DLQFilter{})
	if err != nil || len(left) != 1 || left[0].ID != "demo:3" {
		t.Fatalf("after the redrive: %+v %v", left, err)
	}

	// Purge: refused without a selection, dry run lists, then gone.
	if _, err := ops.Purge(ctxT(t), b.js, ops.PurgeOptions{Filter: ops.DLQFilter{Agent: "crm"}}); !errors.Is(err, ops.ErrInvalid) {
		t.Fatalf("purge without selection: %v", err)
	}
	p, err := ops.Purge(ctxT(t), b.js, ops.PurgeOptions{Filter: ops.DLQFilter{Agent: "crm"}, All: true, DryRun: true})
	if err != nil || len(p.Purged) != 1 {
		t.Fatalf("dry purge: %+v %v", p, err)
	}
	p, err = ops.Purge(ctxT(t), b.js, ops.PurgeOptions{Filter: ops.DLQFilter{Agent: "crm", UpTo: p.Purged[0].Seq}, All: true})
	if err != nil || len(p.Purged) != 1 {
		t.Fatalf("purge: %+v %v", p, err)
	}
	if left, _ := ops.DeadLetters(ctxT(t), b.js, ops.DLQFilter{}); len(left) != 0 {
		t.Fatalf("after the purge: %+v", left)
	}
}

// TestPurgeBySelection deletes only the dead letters a filter selects.
func TestPurgeBySelection(t *testing.T) {
	b := startBus(t)
	newAgentWith(t, b, "crm", func(a *agent) {
		a.fail = func(ev *agents.Event) error { return agents.Permanent(errors.New("no " + string(ev.Data))) }
	}, "webhooks.demo.>")
	b.webhook(t, 1, "alpha")
	b.webhook(t, 2, "beta")
	b.webhook(t, 3, "gamma")
	waitFor(t, "three dead letters", func() bool {
		l, _ := ops.DeadLetters(ctxT(t), b.js, ops.DLQFilter{})
		return len(l) == 3
	})
	p, err := ops.Purge(ctxT(t), b.js, ops.PurgeOptions{Filter: ops.DLQFilter{Reason: "beta"}})
	if err != nil || len(p.Purged) != 1 || p.Purged[0].ID != "demo:2" {
		t.Fatalf("purge by reason: %+v %v", p, err)
	}
	left, _ := ops.DeadLetters(ctxT(t), b.js, ops.DLQFilter{})
	if len(left) != 2 || left[0].ID != "demo:1" || left[1].ID != "demo:3" {
		t.Fatalf("left: %+v", left)
	}
}

// TestRedriveOfAReplayedCopy: a copy replayed to one agent that fails again is
// dead-lettered under the original's subject and place, and its redrive goes back through
// the agent's replay subject once, not nested in it, and is handled as the original event.
func TestRedriveOfAReplayedCopy(t *testing.T) {
	b := startBus(t)
	var failCopies atomic.Bool
	failCopies.Store(true)
	c := newAgentWith(t, b, "crm", func(a *agent) {
		a.fail = func(ev *agents.Event) error {
			if ev.Replay && failCopies.Load() {
				return agents.Permanent(errors.New("replays not handled yet"))
			}
			return nil
		}
	}, "webhooks.demo.>")
	b.webhook(t, 1, `{"lead":"ada"}`)
	c.handled(t, 1)
	if _, err := ops.Replay(ctxT(t), b.js, ops.ReplayOptions{Subject: "webhooks.demo.>", Range: ops.Range{FromSeq: 1}, ToAgent: "crm", Run: "r1"}); err != nil {
		t.Fatal(err)
	}
	var dls []ops.DeadLetter
	waitFor(t, "the copy dead-lettered", func() bool {
		dls, _ = ops.DeadLetters(ctxT(t), b.js, ops.DLQFilter{Agent: "crm"})
		return len(dls) == 1
	})
	if d := dls[0]; d.Subject != "webhooks.demo.lead.created" || d.Stream != subjects.StreamWebhooks || d.Sequence != 1 || d.ID != "demo:1" {
		t.Fatalf("dead letter of the copy: %+v", d)
	}
	failCopies.Store(false)
	res, err := ops.Redrive(ctxT(t), b.js, ops.RedriveOptions{Filter: ops.DLQFilter{Agent: "crm"}, All: true, Force: true})
	if err != nil || len(res.Redriven) != 1 || res.Redriven[0].To != "agents.crm.replay.webhooks.demo.lead.created" {
		t.Fatalf("redrive: %+v %v", res, err)
	}
	c.handled(t, 2)
	if e := c.events()[1]; e.ID != "demo:1" || !e.Replay || e.Subject != "webhooks.demo.lead.created" || e.Stream != subjects.StreamAgents {
		t.Fatalf("redriven copy handled as %+v", e)
	}
	redriven := storedAt(t, b.js, subjects.StreamAgents, res.Redriven[0].NewSeq)
	if redriven.Header.Get(ops.HeaderReplaySubject) != "webhooks.demo.lead.created" || redriven.Header.Get(ops.HeaderReplayStream) != subjects.StreamWebhooks ||
		redriven.Header.Get(ops.HeaderReplaySequence) != "1" || redriven.Header.Get(ops.HeaderReplayRun) != "redrive" {
		t.Fatalf("the redriven copy does not name the original: %v", redriven.Header)
	}
}
