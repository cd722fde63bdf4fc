package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/agentstest"
	"github.com/hookbus/hookbus/agents/relay"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

var callbackSecret = newSecret("callbacks", 32)

// callbackConfig allows callbacks under base+"/callbacks/a/", signed with callbackSecret.
func callbackConfig(t *testing.T, base string) relay.Config {
	d := testDelivery(t, callbackSecret)
	return relay.Config{
		Callbacks: relay.Callbacks{
			InputField:   "callback_url",
			Destinations: []relay.Destination{{Name: "agent-a", URLPrefix: base + "/callbacks/a/", Delivery: d}},
		},
		SSRF: loopback,
	}
}

func decodeCallback(t *testing.T, h hit) relay.TaskCallback {
	t.Helper()
	var cb relay.TaskCallback
	if err := json.Unmarshal(h.Body, &cb); err != nil {
		t.Fatalf("callback body %s: %v", h.Body, err)
	}
	return cb
}

// TestDelegationCallback is the seed's delegation scenario: agent a delegates a task to agent
// b with a callback URL (in the task's input, through the SDK's Delegate); b completes it;
// the result arrives at a's HTTP endpoint, signed, and a's OnTask sees it as well.
func TestDelegationCallback(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	rc := newReceiver(t, nil)
	runRelay(t, srv.Connect(t), callbackConfig(t, rc.srv.URL))

	ids := make(chan string, 1)
	updates := make(chan *agents.TaskUpdate, 4)
	runAgent(t, srv.Connect(t), agents.Config{
		Name:     "a",
		Subjects: []string{"webhooks.demo.>"},
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			in, _ := json.Marshal(map[string]string{"text": string(ev.Data), "callback_url": rc.srv.URL + "/callbacks/a/summaries"})
			id, err := ev.Delegate(ctx, "b", "summarize", in, time.Now().Add(time.Minute))
			if err == nil {
				ids <- id
			}
			return err
		}),
		OnTask: func(ctx context.Context, u *agents.TaskUpdate) error { updates <- u; return nil },
	})
	runAgent(t, srv.Connect(t), agents.Config{
		Name: "b",
		Tasks: map[string]agents.TaskHandler{"summarize": func(ctx context.Context, task *agents.Task) ([]byte, error) {
			return []byte(`{"summary":"short"}`), nil
		}},
	})

	publish(t, js, "webhooks.demo.doc.uploaded", "demo:doc1", []byte(`a long text`))
	id := <-ids
	waitFor(t, "the callback", func() bool { return rc.count() == 1 })
	h := rc.all()[0]
	verify(t, callbackSecret, h)
	cb := decodeCallback(t, h)
	if h.Path != "/callbacks/a/summaries" || cb.Type != "task.completed" || cb.Data.TaskID != id || cb.Data.State != subjects.TaskCompleted ||
		cb.Data.Requester != "a" || cb.Data.Worker != "b" || cb.Data.Kind != "summarize" || string(cb.Data.Result) != `{"summary":"short"}` ||
		cb.Data.EventID != h.Header.Get("webhook-id") || cb.Data.CorrelationID != "demo:doc1" || cb.Timestamp.IsZero() {
		t.Errorf("callback %s %s", h.Path, h.Body)
	}
	select {
	case u := <-updates:
		if u.State != subjects.TaskCompleted || u.ID != id {
			t.Errorf("OnTask %+v", u)
		}
	case <-time.After(10 * time.Second):
		t.Error("OnTask saw nothing")
	}
	waitFor(t, "the delivery event", func() bool { return len(attempts(t, js)) == 1 })
	if a := attempts(t, js)[0]; !a.Callback || a.Outcome != relay.OutcomeDelivered || a.Target != "agent-a" || a.TaskID != id {
		t.Errorf("delivery event %+v", a)
	}
}

// publishTask stores a task message for worker as the SDK's Delegate would, plus a
// callback header when url is not "".
func publishTask(t *testing.T, js jetstream.JetStream, id, requester, worker, kind, url string) {
	t.Helper()
	extra := []string{
		subjects.HeaderTaskID, id, subjects.HeaderTaskKind, kind, subjects.HeaderTaskRequester, requester,
		subjects.HeaderTaskWorker, worker, subjects.HeaderTaskDeadline, time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano),
	}
	if url != "" {
		extra = append(extra, relay.HeaderCallbackURL, url)
	}
	publish(t, js, subjects.Task(worker, kind), id, []byte(`{}`), extra...)
}

// TestCallbackHeaderFailedRefusedForged: tasks name their callback in the
// Hookbus-Callback-Url header. One names a URL outside every destination: refused, never
// called. A forged outcome from an agent that is not the task's worker is ignored. The
// worker's failure arrives, signed, with its reason.
func TestCallbackHeaderFailedRefusedForged(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	rc := newReceiver(t, nil)
	runRelay(t, srv.Connect(t), callbackConfig(t, rc.srv.URL))

	var mu sync.Mutex
	started := map[string]chan struct{}{"t-refused": make(chan struct{}), "t-ok": make(chan struct{})}
	release := make(chan struct{})
	runAgent(t, srv.Connect(t), agents.Config{
		Name: "b",
		Tasks: map[string]agents.TaskHandler{"check": func(ctx context.Context, task *agents.Task) ([]byte, error) {
			mu.Lock()
			close(started[task.ID])
			mu.Unlock()
			if task.ID == "t-ok" {
				<-release
			}
			return nil, agents.Permanent(errors.New("input is not a contract"))
		}},
	})
	// Outside the prefix: a sibling path, another port, a climb out of the prefix.
	publishTask(t, js, "t-refused", "a", "b", "check", rc.srv.URL+"/callbacks/other")
	<-started["t-refused"]
	publishTask(t, js, "t-ok", "a", "b", "check", rc.srv.URL+"/callbacks/a/contracts?ref=7")
	<-started["t-ok"]
	// While b works on t-ok, agent x claims to have completed it.
	publish(t, js, subjects.TaskStatus("x", "a", subjects.TaskCompleted), "forged-1", []byte(`{"ok":true}`),
		subjects.HeaderTaskID, "t-ok", subjects.HeaderTaskRequester, "a", subjects.HeaderTaskWorker, "x",
		subjects.HeaderTaskState, subjects.TaskCompleted, subjects.HeaderTaskKind, "check")
	close(release)

	waitFor(t, "the failed outcome", func() bool {
		for _, a := range attempts(t, js) {
			if a.TaskID == "t-ok" && a.Outcome == relay.OutcomeDelivered {
				return true
			}
		}
		return false
	})
	hits := rc.all()
	if len(hits) != 1 {
		t.Fatalf("%d callbacks, want 1", len(hits))
	}
	verify(t, callbackSecret, hits[0])
	cb := decodeCallback(t, hits[0])
	if hits[0].Path != "/callbacks/a/contracts" || cb.Type != "task.failed" || cb.Data.Worker != "b" || cb.Data.TaskID != "t-ok" ||
		!strings.Contains(cb.Data.Error, "input is not a contract") || cb.Data.Result != nil {
		t.Errorf("callback %s %s", hits[0].Path, hits[0].Body)
	}
	var refused int
	for _, a := range attempts(t, js) {
		if a.Outcome == relay.OutcomeRefused && a.TaskID == "t-refused" && a.Callback {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("refused events: %d in %+v", refused, attempts(t, js))
	}
}
