package agents_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
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

// publishCopy stores a copy of the stored message orig for agent alone, as "hookbus replay
// --to-agent" does: same body and envelope, marked as a replay, on the agent's replay
// subject. set adjusts the copy's headers before it is published.
func publishCopy(t *testing.T, js jetstream.JetStream, agent string, orig *jetstream.RawStreamMsg, stream string, set func(nats.Header)) {
	t.Helper()
	m := nats.NewMsg(subjects.Replay(agent, orig.Subject))
	m.Data = orig.Data
	for k, v := range orig.Header {
		if !strings.HasPrefix(strings.ToLower(k), "nats-") {
			m.Header[k] = slices.Clone(v)
		}
	}
	id := orig.Header.Get(subjects.HeaderID)
	if id == "" {
		id = stream + ":" + strconv.FormatUint(orig.Sequence, 10)
	}
	m.Header.Set(subjects.HeaderMsgID, "replay:test:"+id)
	m.Header.Set(subjects.HeaderReplay, "true")
	m.Header.Set(subjects.HeaderReplayOf, id)
	m.Header.Set(subjects.HeaderReplayRun, "test")
	m.Header.Set(subjects.HeaderReplaySubject, orig.Subject)
	m.Header.Set(subjects.HeaderReplayStream, stream)
	m.Header.Set(subjects.HeaderReplaySequence, strconv.FormatUint(orig.Sequence, 10))
	if set != nil {
		set(m.Header)
	}
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatalf("publish copy: %v", err)
	}
}

// handled records the events an agent handled.
type handled struct {
	mu  sync.Mutex
	evs []agents.Event
}

func (h *handled) add(ev *agents.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.evs = append(h.evs, *ev)
}

func (h *handled) list() []agents.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.evs)
}

func (h *handled) len() int { return len(h.list()) }

// consumerFilters waits for the durable consumer name on stream and returns its filters.
func consumerFilters(t *testing.T, js jetstream.JetStream, stream, name string) []string {
	t.Helper()
	var filters []string
	waitFor(t, "consumer "+name+" on "+stream, func() bool {
		c, err := js.Consumer(context.Background(), stream, name)
		if err != nil {
			return false
		}
		filters = c.CachedInfo().Config.FilterSubjects
		return true
	})
	return filters
}

// TestReplayedCopyIsTheOriginal sends a copy of a handled webhook to the agent alone: the
// agent reads its replay subject without listing it, and its handler sees the original
// subject, id and type, marked as a replay; the step it did is not done again and what it
// emits is the same event. Another agent whose filter matches the copy ignores it.
func TestReplayedCopyIsTheOriginal(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var triage, watch handled
	var labeled atomic.Int32
	var emitted sync.Map // attempt's event → Emitted
	running(t, nc, agents.Config{
		Name:     "triage",
		Subjects: []string{"webhooks.github.issues.>"},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			if _, err := ev.Once(ctx, "label", func(context.Context) error { labeled.Add(1); return nil }); err != nil {
				return err
			}
			em, err := ev.Emit(ctx, "issue.triaged", []byte(`{}`))
			if err != nil {
				return err
			}
			emitted.Store(ev.Replay, em)
			triage.add(ev)
			return nil
		}),
	})
	running(t, nc, agents.Config{
		Name:     "watch",
		Subjects: []string{"agents.>"},
		Handler:  agents.HandlerFunc(func(_ context.Context, ev *agents.Event) error { watch.add(ev); return nil }),
	})
	if f := consumerFilters(t, js, subjects.StreamAgents, "triage"); !slices.Equal(f, []string{"agents.triage.replay.>"}) {
		t.Fatalf("triage's consumer on AGENTS reads %v, want its replay subject", f)
	}
	if f := consumerFilters(t, js, subjects.StreamAgents, "watch"); !slices.Equal(f, []string{"agents.>"}) {
		t.Fatalf("watch's consumer on AGENTS reads %v, want agents.> alone (it covers its replay subject)", f)
	}

	publishWebhook(t, js, "github:r1", "issues.opened", []byte(`{"n":1}`))
	waitFor(t, "the original handled", func() bool { return triage.len() == 1 && watch.len() == 1 })
	orig := streamMsgs(t, js, subjects.StreamWebhooks, "webhooks.>")[0]
	publishCopy(t, js, "triage", orig, subjects.StreamWebhooks, nil)
	waitFor(t, "the copy handled", func() bool { return triage.len() == 2 })

	first, again := triage.list()[0], triage.list()[1]
	if again.Subject != "webhooks.github.issues.opened" || !again.Replay || again.ID != "github:r1" || again.Type != "issues.opened" ||
		again.CorrelationID != "github:r1" || again.Hops != 0 || string(again.Data) != `{"n":1}` || again.Stream != subjects.StreamAgents || again.Attempt != 1 {
		t.Fatalf("copy handled as %+v", again)
	}
	if first.Replay || first.Subject != again.Subject {
		t.Fatalf("original handled as %+v", first)
	}
	if n := labeled.Load(); n != 1 {
		t.Fatalf("the step guarded by Once ran %d times, want 1", n)
	}
	if em, _ := emitted.Load(true); !em.(agents.Emitted).Duplicate {
		t.Fatalf("the copy emitted %+v, want the original's event again (a duplicate)", em)
	}
	if n := len(streamMsgs(t, js, subjects.StreamAgents, "agents.triage.events.>")); n != 1 {
		t.Fatalf("%d events of triage stored, want 1", n)
	}

	// watch reads agents.> and so receives triage's copy: acknowledged, not handled. A copy
	// sent to watch itself is handled, under its original subject.
	triaged := streamMsgs(t, js, subjects.StreamAgents, "agents.triage.events.>")[0]
	publishCopy(t, js, "watch", triaged, subjects.StreamAgents, nil)
	waitFor(t, "watch handles its copy", func() bool { return watch.len() == 2 })
	if got := watch.list()[1]; got.Subject != "agents.triage.events.issue.triaged" || !got.Replay || got.ID != triaged.Header.Get(subjects.HeaderID) || got.Hops != 1 {
		t.Fatalf("watch handled its copy as %+v", got)
	}
	time.Sleep(200 * time.Millisecond)
	if n := watch.len(); n != 2 {
		t.Fatalf("watch handled %d events, want 2: %+v", n, watch.list())
	}
	waitFor(t, "watch acknowledged triage's copy", func() bool {
		c, err := js.Consumer(context.Background(), subjects.StreamAgents, "watch")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// TestReplayedTaskGoesToTheTaskHandler: a task copied to its worker is routed by its
// original subject, so the task handler works it again.
func TestReplayedTaskGoesToTheTaskHandler(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var tasks handled
	running(t, nc, agents.Config{
		Name: "writer",
		Tasks: map[string]agents.TaskHandler{"summarize": func(_ context.Context, task *agents.Task) ([]byte, error) {
			tasks.add(task.Event)
			return []byte(`"done"`), nil
		}},
	})
	task := nats.NewMsg(subjects.Task("writer", "summarize"))
	for k, v := range map[string]string{
		subjects.HeaderID: "t1", subjects.HeaderMsgID: "t1", subjects.HeaderType: "task.summarize",
		subjects.HeaderTaskID: "t1", subjects.HeaderTaskKind: "summarize", subjects.HeaderTaskRequester: "triage",
		subjects.HeaderTaskWorker: "writer", subjects.HeaderTaskDeadline: time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano),
	} {
		task.Header.Set(k, v)
	}
	ack, err := js.PublishMsg(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task worked", func() bool { return tasks.len() == 1 })
	orig := streamMsgs(t, js, subjects.StreamAgents, subjects.Tasks("writer"))[0]
	publishCopy(t, js, "writer", orig, subjects.StreamAgents, nil)
	waitFor(t, "the copied task worked", func() bool { return tasks.len() == 2 })
	if got := tasks.list()[1]; got.Subject != "agents.writer.tasks.summarize" || !got.Replay || got.ID != "t1" || got.Sequence == ack.Sequence {
		t.Fatalf("copied task handled as %+v", got)
	}
	// Its outcome is the one reported already: the stream keeps one.
	if n := len(streamMsgs(t, js, subjects.StreamAgents, subjects.TaskStatus("writer", "triage", subjects.TaskCompleted))); n != 1 {
		t.Fatalf("%d completed reports stored, want 1", n)
	}
}

// TestReplayedCopyDeadLetters: a copy the agent gives up on gets a dead letter of its own,
// naming the original's subject and place, so that a redrive hands it back as the original
// event; the hop guard applies to copies as to originals.
func TestReplayedCopyDeadLetters(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	running(t, nc, agents.Config{
		Name: "picky", Subjects: []string{"webhooks.>"},
		Handler: agents.HandlerFunc(func(context.Context, *agents.Event) error {
			return agents.Permanent(errors.New("cannot handle it"))
		}),
	})
	publishWebhook(t, js, "github:d1", "issues.opened", []byte(`{"n":1}`))
	waitFor(t, "the original dead-lettered", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.picky")) == 1 })
	orig := streamMsgs(t, js, subjects.StreamWebhooks, "webhooks.>")[0]
	publishCopy(t, js, "picky", orig, subjects.StreamWebhooks, nil)
	waitFor(t, "the copy dead-lettered", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.picky")) == 2 })
	publishCopy(t, js, "picky", orig, subjects.StreamWebhooks, func(h nats.Header) {
		h.Set(subjects.HeaderMsgID, "replay:loop:github:d1")
		h.Set(subjects.HeaderHops, strconv.Itoa(agents.DefaultMaxHops+1))
	})
	waitFor(t, "the looping copy dead-lettered", func() bool { return len(streamMsgs(t, js, subjects.StreamDLQ, "dlq.picky")) == 3 })

	dls := streamMsgs(t, js, subjects.StreamDLQ, "dlq.picky")
	for i, d := range dls {
		for k, v := range map[string]string{
			subjects.HeaderDLQSubject:  "webhooks.github.issues.opened",
			subjects.HeaderDLQStream:   subjects.StreamWebhooks,
			subjects.HeaderDLQSequence: "1",
			subjects.HeaderID:          "github:d1",
		} {
			if got := d.Header.Get(k); got != v {
				t.Errorf("dead letter %d: %s = %q, want %q", i, k, got, v)
			}
		}
		if replay := d.Header.Get(subjects.HeaderReplay) == "true"; replay != (i > 0) {
			t.Errorf("dead letter %d marked as a replay: %v", i, replay)
		}
	}
	if dls[0].Header.Get(subjects.HeaderMsgID) == dls[1].Header.Get(subjects.HeaderMsgID) {
		t.Fatalf("the copy's dead letter has the original's id %q", dls[1].Header.Get(subjects.HeaderMsgID))
	}
	if reason := dls[2].Header.Get(subjects.HeaderDLQReason); !strings.Contains(reason, "hop limit") {
		t.Fatalf("looping copy dead-lettered for %q", reason)
	}
}

// TestReplayedCopyWithoutEnvelope: a copy of a message published without an envelope goes
// by the id its original went by (Hookbus-Replay-Of), so Once skips what was done for it.
func TestReplayedCopyWithoutEnvelope(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	var seen handled
	var ran atomic.Int32
	running(t, nc, agents.Config{
		Name: "bare", Subjects: []string{"webhooks.>"},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			if _, err := ev.Once(ctx, "step", func(context.Context) error { ran.Add(1); return nil }); err != nil {
				return err
			}
			seen.add(ev)
			return nil
		}),
	})
	if _, err := js.Publish(context.Background(), "webhooks.plain.ping", []byte("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the original handled", func() bool { return seen.len() == 1 })
	publishCopy(t, js, "bare", streamMsgs(t, js, subjects.StreamWebhooks, "webhooks.>")[0], subjects.StreamWebhooks, nil)
	waitFor(t, "the copy handled", func() bool { return seen.len() == 2 })
	if ids := []string{seen.list()[0].ID, seen.list()[1].ID}; ids[0] != "WEBHOOKS:1" || ids[1] != ids[0] {
		t.Fatalf("original and copy handled with ids %v, want WEBHOOKS:1 twice", ids)
	}
	if ran.Load() != 1 {
		t.Fatalf("step ran %d times, want 1", ran.Load())
	}
}

// TestReplayFilterJoinsTheConsumer checks how the replay filter joins the filters an agent
// lists: added when none reads it, not repeated when one already does, in place of filters
// that read part of it; an agent that consumes nothing gets no consumer for it.
func TestReplayFilterJoinsTheConsumer(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)
	h := agents.HandlerFunc(func(context.Context, *agents.Event) error { return nil })
	for _, tt := range []struct {
		name     string
		subjects []string
		want     []string
	}{
		{"webhooks-only", []string{"webhooks.>"}, []string{"agents.webhooks-only.replay.>"}},
		{"listed", []string{"webhooks.>", subjects.Replays("listed")}, []string{"agents.listed.replay.>"}},
		{"everything", []string{"agents.>"}, []string{"agents.>"}},
		{"own", []string{"agents.own.>"}, []string{"agents.own.>"}},
		{"part", []string{"agents.other.events.>", "agents.part.replay.webhooks.>"}, []string{"agents.other.events.>", "agents.part.replay.>"}},
		{"across", []string{"agents.*.replay.webhooks.>"}, []string{"agents.*.replay.webhooks.>"}},
	} {
		running(t, nc, agents.Config{Name: tt.name, Subjects: tt.subjects, Handler: h})
		if got := consumerFilters(t, js, subjects.StreamAgents, tt.name); !slices.Equal(got, tt.want) {
			t.Errorf("%s with %v reads %v on AGENTS, want %v", tt.name, tt.subjects, got, tt.want)
		}
	}
	running(t, nc, agents.Config{Name: "asker", Replies: map[string]agents.ReplyHandler{
		"ping": func(context.Context, []byte) ([]byte, error) { return nil, nil },
	}})
	time.Sleep(200 * time.Millisecond)
	if _, err := js.Consumer(context.Background(), subjects.StreamAgents, "asker"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("an agent that only answers requests has a consumer: %v", err)
	}
}
