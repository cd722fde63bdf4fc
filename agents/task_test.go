package agents_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/agentstest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// updates collects the task updates a requester receives.
type updates struct {
	mu  sync.Mutex
	got []agents.TaskUpdate
}

func (u *updates) handler(ctx context.Context, up *agents.TaskUpdate) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.got = append(u.got, *up)
	return nil
}

func (u *updates) states() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var s []string
	for _, g := range u.got {
		s = append(s, g.State)
	}
	return s
}

func (u *updates) last() agents.TaskUpdate {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got[len(u.got)-1]
}

// requester is an agent that delegates a "summarize" task to writer for every webhook.
func requester(u *updates, within time.Duration, ids chan<- string) agents.Config {
	return agents.Config{
		Name: "triage", Subjects: []string{"webhooks.>"}, OnTask: u.handler, TaskCheckInterval: 100 * time.Millisecond,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			id, err := ev.Delegate(ctx, "writer", "summarize", ev.Data, time.Now().Add(within))
			if err == nil && ids != nil {
				ids <- id
			}
			return err
		}),
	}
}

// TestDelegationCompletesWhileRequesterDown: triage delegates and stops; writer works the task
// (with progress) and completes it; triage, restarted, receives working and completed, once.
func TestDelegationCompletesWhileRequesterDown(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	var u updates
	ids := make(chan string, 1)
	stopTriage := running(t, srv.Connect(t), requester(&u, time.Minute, ids))
	publishWebhook(t, js, "github:t1", "issues.opened", []byte(`{"title":"long text"}`))
	id := <-ids
	stopTriage()

	done := make(chan struct{})
	running(t, srv.Connect(t), agents.Config{
		Name: "writer",
		Tasks: map[string]agents.TaskHandler{"summarize": func(ctx context.Context, task *agents.Task) ([]byte, error) {
			if task.ID != id || task.Requester != "triage" || string(task.Input) != `{"title":"long text"}` {
				t.Errorf("task %+v", task)
			}
			if err := task.Working(ctx, []byte(`{"pct":50}`)); err != nil {
				return nil, err
			}
			defer close(done)
			return []byte(`{"summary":"short"}`), nil
		}},
	})
	<-done
	time.Sleep(200 * time.Millisecond)
	if s := u.states(); len(s) != 0 {
		t.Fatalf("the stopped requester received %v", s)
	}
	running(t, srv.Connect(t), requester(&u, time.Minute, nil))
	waitFor(t, "completed", func() bool { s := u.states(); return len(s) > 0 && s[len(s)-1] == subjects.TaskCompleted })
	time.Sleep(300 * time.Millisecond)
	if s := strings.Join(u.states(), ","); s != "working,completed" {
		t.Fatalf("updates %s, want working,completed", s)
	}
	last := u.last()
	if last.ID != id || last.Worker != "writer" || last.Kind != "summarize" || string(last.Result) != `{"summary":"short"}` {
		t.Fatalf("completed update %+v", last)
	}
	if c := last.Event.CorrelationID; c != "github:t1" {
		t.Errorf("status correlation %q, want the webhook's id", c)
	}
}

// TestTaskTimesOut: nobody works the task; the requester learns timed_out at the deadline,
// and a worker that starts late reports nothing more to it.
func TestTaskTimesOut(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	var u updates
	running(t, srv.Connect(t), requester(&u, 500*time.Millisecond, nil))
	publishWebhook(t, js, "github:t2", "issues.opened", nil)
	waitFor(t, "timed_out", func() bool { return len(u.states()) == 1 })
	if up := u.last(); up.State != subjects.TaskTimedOut || !strings.Contains(up.Error, "writer") {
		t.Fatalf("update %+v", up)
	}
	worked := make(chan struct{}, 1)
	running(t, srv.Connect(t), agents.Config{Name: "writer", Tasks: map[string]agents.TaskHandler{
		"summarize": func(context.Context, *agents.Task) ([]byte, error) { worked <- struct{}{}; return nil, nil },
	}})
	waitFor(t, "the late worker's report", func() bool {
		return len(streamMsgs(t, js, subjects.StreamAgents, "agents.writer.events.task.triage.>")) == 1
	})
	time.Sleep(300 * time.Millisecond)
	select {
	case <-worked:
		t.Fatal("a task past its deadline was worked")
	default:
	}
	if s := strings.Join(u.states(), ","); s != "timed_out" {
		t.Fatalf("updates %s, want timed_out once", s)
	}
}

func TestTaskFails(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	var u updates
	running(t, srv.Connect(t), requester(&u, time.Minute, nil))
	running(t, srv.Connect(t), agents.Config{Name: "writer", Tasks: map[string]agents.TaskHandler{
		"summarize": func(context.Context, *agents.Task) ([]byte, error) {
			return nil, agents.Permanent(errors.New("text is in an unknown language"))
		},
	}})
	publishWebhook(t, js, "github:t3", "issues.opened", nil)
	waitFor(t, "failed", func() bool { return len(u.states()) == 1 })
	if up := u.last(); up.State != subjects.TaskFailed || up.Error != "text is in an unknown language" {
		t.Fatalf("update %+v", up)
	}
}

func TestAsk(t *testing.T) {
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	running(t, srv.Connect(t), agents.Config{Name: "pricing", Replies: map[string]agents.ReplyHandler{
		"quote": func(ctx context.Context, data []byte) ([]byte, error) {
			if string(data) == "free" {
				return nil, errors.New("nothing is free")
			}
			return []byte(`{"price":42}`), nil
		},
	}})
	var got []byte
	var err error
	waitFor(t, "an answer", func() bool {
		got, err = agents.Ask(context.Background(), nc, "pricing", "quote", []byte("widget"))
		return !errors.Is(err, agents.ErrNoAgent)
	})
	if err != nil || string(got) != `{"price":42}` {
		t.Fatalf("Ask = %s, %v", got, err)
	}
	if _, err := agents.Ask(context.Background(), nc, "pricing", "quote", []byte("free")); !errors.Is(err, agents.ErrRemote) || !strings.Contains(err.Error(), "nothing is free") {
		t.Fatalf("remote error: %v", err)
	}
	if _, err := agents.Ask(context.Background(), nc, "pricing", "other", nil); !errors.Is(err, agents.ErrRemote) {
		t.Fatalf("unknown kind: %v", err)
	}
	if _, err := agents.Ask(context.Background(), nc, "nobody", "quote", nil); !errors.Is(err, agents.ErrNoAgent) {
		t.Fatalf("no agent: %v", err)
	}
}
