package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// TaskCallback is the body of a task callback, in the Standard Webhooks payload shape:
// type, timestamp, data.
type TaskCallback struct {
	Type      string      `json:"type"`      // "task.completed" or "task.failed"
	Timestamp time.Time   `json:"timestamp"` // when the worker reported the outcome
	Data      TaskOutcome `json:"data"`
}

// TaskOutcome is what a callback says about the task.
type TaskOutcome struct {
	TaskID        string          `json:"task_id"`
	Kind          string          `json:"kind"`
	Requester     string          `json:"requester"`
	Worker        string          `json:"worker"`
	State         string          `json:"state"`                    // subjects.TaskCompleted or TaskFailed
	Result        json.RawMessage `json:"result,omitempty"`         // completed: the result, when it is JSON
	ResultText    string          `json:"result_text,omitempty"`    // completed: the result, when it is other UTF-8 text
	ResultBase64  []byte          `json:"result_base64,omitempty"`  // completed: the result, otherwise
	Error         string          `json:"error,omitempty"`          // failed: the worker's reason
	EventID       string          `json:"event_id"`                 // the status event: also the webhook-id
	CorrelationID string          `json:"correlation_id,omitempty"` // the chain the task belongs to
}

// taskOutcomeFilters match the status events the relay calls back for:
// agents.<worker>.events.task.<requester>.completed and .failed (subjects.TaskStatus).
func taskOutcomeFilters() []string {
	return []string{
		subjects.AgentsRoot + ".*.events.task.*." + subjects.TaskCompleted,
		subjects.AgentsRoot + ".*.events.task.*." + subjects.TaskFailed,
	}
}

// callbackURL returns the callback URL a task message names: its HeaderCallbackURL, or the
// configured field of its JSON input.
func (r *Relay) callbackURL(ev *agents.Event) string {
	if u := ev.Header.Get(HeaderCallbackURL); u != "" {
		return u
	}
	f := r.cfg.Callbacks.InputField
	if f == "" {
		return ""
	}
	var in map[string]json.RawMessage
	if json.Unmarshal(ev.Data, &in) != nil {
		return ""
	}
	var u string
	if json.Unmarshal(in[f], &u) != nil {
		return ""
	}
	return u
}

// destination returns the callback destination raw lies under, or nil.
func (r *Relay) destination(raw string) *target {
	for _, t := range r.destinations {
		if underPrefix(t.prefix, raw) {
			return t
		}
	}
	return nil
}

// underPrefix reports whether raw is an http(s) URL with prefix's scheme, host and port,
// without user info, fragment or dot segments, whose path lies under prefix's path (at a
// segment boundary).
func underPrefix(prefix *url.URL, raw string) bool {
	if prefix == nil || len(raw) > 4096 || strings.Contains(raw, "#") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" || !strings.EqualFold(u.Scheme, prefix.Scheme) ||
		!strings.EqualFold(u.Host, prefix.Host) || checkPath(u.Path) != "" {
		return false
	}
	pp := prefix.Path
	switch {
	case pp == "" || pp == "/" || u.Path == pp:
		return true
	case strings.HasSuffix(pp, "/"):
		return strings.HasPrefix(u.Path, pp)
	}
	return strings.HasPrefix(u.Path, pp+"/")
}

// recordTask is the handler of relay-tasks: it remembers the callback URL of each task
// message that names one under a destination, and records a refused delivery event for one
// that names any other URL.
func (r *Relay) recordTask(ctx context.Context, ev *agents.Event) error {
	p, err := subjects.Parse(ev.Subject)
	if err != nil || p.Kind != "tasks" || own(ev.Subject, recorderAgent) {
		return nil
	}
	raw := r.callbackURL(ev)
	if raw == "" {
		return nil
	}
	taskID, requester := ev.Header.Get(subjects.HeaderTaskID), ev.Header.Get(subjects.HeaderTaskRequester)
	if taskID == "" || subjects.ValidName(requester) != nil {
		return nil // malformed: the worker reports it failed
	}
	t := r.destination(raw)
	if t == nil {
		r.metrics.refused.Inc()
		r.record(ev, recorderAgent, Attempt{
			Callback: true, URL: redactURL(raw), EventID: ev.ID, Subject: ev.Subject, TaskID: taskID,
			Attempt: ev.Attempt, Outcome: OutcomeRefused,
			Error: "callback URL under no callbacks.destinations url_prefix",
		})
		r.log.Warn().Str("task", taskID).Str("requester", requester).Str("url", redactURL(raw)).
			Msg("callback URL refused: under no configured destination")
		return nil
	}
	rec, _ := json.Marshal(callbackRecord{
		URL: raw, Destination: t.name, Requester: requester, Worker: p.Owner, Kind: p.Type, TaskID: taskID,
	})
	// Create, not Put: a task message redelivered does not move the record.
	if _, err := r.callbacks.Create(ctx, callbackKey(requester, taskID), rec); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("relay: callback record of task %s: %w", taskID, err)
	}
	return nil
}

// lookupWait bounds how long a status event waits, inside one attempt, for the recorder to
// pass its task message.
const lookupWait = 2 * time.Second

// lookup returns the callback record of a task, waiting for the recorder when it has not
// yet handled every task message stored before the status event at seq. found is false
// when the task named no (allowed) callback.
func (r *Relay) lookup(ctx context.Context, requester, taskID string, seq uint64, stop <-chan struct{}) (rec callbackRecord, found bool, err error) {
	key := callbackKey(requester, taskID)
	deadline := time.Now().Add(lookupWait)
	for {
		// Read progress first: a record written after this read is still seen below.
		passed, perr := r.recorderPassed(ctx, seq)
		e, err := r.callbacks.Get(ctx, key)
		switch {
		case err == nil:
			if json.Unmarshal(e.Value(), &rec) != nil {
				return rec, false, nil
			}
			return rec, true, nil
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return rec, false, err
		case perr == nil && passed:
			return rec, false, nil
		case time.Now().After(deadline):
			if perr != nil {
				return rec, false, fmt.Errorf("relay: task recorder progress: %w", perr)
			}
			return rec, false, fmt.Errorf("relay: task %s: its message is not recorded yet", taskID)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return rec, false, ctx.Err()
		case <-stop:
			return rec, false, fmt.Errorf("%w: %w", ErrHeld, errStopping)
		}
	}
}

// recorderPassed reports whether relay-tasks has settled every task message stored at or
// before stream sequence seq of AGENTS.
func (r *Relay) recorderPassed(ctx context.Context, seq uint64) (bool, error) {
	cons, err := r.js.Consumer(ctx, subjects.StreamAgents, recorderAgent)
	if err != nil {
		return false, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return false, err
	}
	return info.AckFloor.Stream >= seq || (info.NumPending == 0 && info.NumAckPending == 0), nil
}

// handleCallback is the handler of relay-cb-<destination>: for a completed or failed status
// event of a task whose callback URL lies under the destination, it delivers the outcome
// there. The URL comes from the status event's HeaderCallbackURL when the worker passed it
// on, or else from the record relay-tasks made of the task message. A status event from
// another worker than the one the task was sent to is ignored.
func (r *Relay) handleCallback(t *target) agents.Handler {
	return agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
		p, err := subjects.Parse(ev.Subject)
		if err != nil || p.Kind != "events" || own(ev.Subject, t.agent) {
			return nil
		}
		state := ev.Header.Get(subjects.HeaderTaskState)
		taskID, requester := ev.Header.Get(subjects.HeaderTaskID), ev.Header.Get(subjects.HeaderTaskRequester)
		if state != subjects.TaskCompleted && state != subjects.TaskFailed || taskID == "" || requester == "" ||
			ev.Subject != subjects.TaskStatus(p.Owner, requester, state) {
			return nil
		}
		raw := ev.Header.Get(HeaderCallbackURL)
		kind := ev.Header.Get(subjects.HeaderTaskKind)
		if raw == "" {
			rec, found, err := r.lookup(ctx, requester, taskID, ev.Sequence, t.stopping)
			if err != nil {
				return err
			}
			if !found || rec.Destination != t.name {
				return nil
			}
			if rec.Worker != p.Owner {
				t.log.Warn().Str("task", taskID).Str("worker", rec.Worker).Str("from", p.Owner).
					Msg("task outcome from another agent than its worker: ignored")
				return nil
			}
			raw = rec.URL
		}
		if !underPrefix(t.prefix, raw) {
			return nil
		}
		body, _ := json.Marshal(TaskCallback{
			Type:      "task." + state,
			Timestamp: ev.Time.UTC(),
			Data:      outcome(ev, taskID, kind, requester, p.Owner, state),
		})
		_, err = ev.Once(ctx, "callback", func(ctx context.Context) error {
			return r.deliver(ctx, t, ev, request{
				url: raw, body: body, contentType: "application/json", taskID: taskID,
				header: map[string]string{subjects.HeaderTaskID: taskID, subjects.HeaderTaskState: state},
			})
		})
		return err
	})
}

func outcome(ev *agents.Event, taskID, kind, requester, worker, state string) TaskOutcome {
	o := TaskOutcome{
		TaskID: taskID, Kind: kind, Requester: requester, Worker: worker, State: state,
		Error: ev.Header.Get(subjects.HeaderTaskError), EventID: ev.ID, CorrelationID: ev.CorrelationID,
	}
	switch {
	case len(ev.Data) == 0:
	case json.Valid(ev.Data):
		o.Result = json.RawMessage(ev.Data)
	case utf8.Valid(ev.Data):
		o.ResultText = string(ev.Data)
	default:
		o.ResultBase64 = ev.Data
	}
	return o
}
