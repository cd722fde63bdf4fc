package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// Task is a unit of work one agent delegated to another, as the worker sees it.
type Task struct {
	ID        string    // chosen by the requester; stable across redeliveries
	Kind      string    // what is asked
	Requester string    // agent that delegated it
	Deadline  time.Time // past it, the task is reported timed_out
	Input     []byte    // the requester's payload
	Event     *Event    // the task message itself

	working int
}

// TaskHandler does the work of one task kind and returns its result.
//
// Ack rule: a nil error reports completed with the result; a Permanent error reports failed
// at once; another error retries with the agent's backoff until MaxDeliver, then reports
// failed. ctx ends at the task's deadline; past it the requester has been told timed_out.
type TaskHandler func(ctx context.Context, t *Task) (result []byte, err error)

// TaskUpdate is a state change of a task this agent delegated.
type TaskUpdate struct {
	ID     string
	Kind   string
	Worker string
	State  string // subjects.TaskWorking, TaskCompleted, TaskFailed or TaskTimedOut
	Result []byte // completed: the result; working: the progress payload
	Error  string // failed: the worker's reason; timed_out: why
	Event  *Event // the status event; nil for a timed_out noticed by the requester itself
}

// TaskUpdateHandler receives the updates of the tasks an agent delegated. Its error
// retries the update like any handler error.
type TaskUpdateHandler func(ctx context.Context, u *TaskUpdate) error

// taskRecord is what a requester keeps about a task it delegated, in BucketTasks.
type taskRecord struct {
	Worker   string    `json:"worker"`
	Kind     string    `json:"kind"`
	Deadline time.Time `json:"deadline"`
	State    string    `json:"state"`
}

func terminal(state string) bool {
	return state == subjects.TaskCompleted || state == subjects.TaskFailed || state == subjects.TaskTimedOut
}

// ErrTaskDeadline is returned by Delegate for a deadline that has already passed.
var ErrTaskDeadline = errors.New("agents: task deadline already passed")

// tasksKV opens the task-record bucket on first use.
func (a *Agent) tasksKV(ctx context.Context) (jetstream.KeyValue, error) {
	a.taskStore.once.Do(func() {
		a.taskStore.kv, a.taskStore.err = bindOrCreate(ctx, a.js, subjects.TasksBucket(subjects.StreamOptions{}))
	})
	if a.taskStore.err != nil {
		return nil, fmt.Errorf("agents: task records: %w", a.taskStore.err)
	}
	return a.taskStore.kv, nil
}

type kvStore struct {
	once sync.Once
	kv   jetstream.KeyValue
	err  error
}

// Delegate asks worker to do a task of kind with input, to be finished by deadline, as a
// consequence of ev. The task id is derived from ev, so a handler that runs again delegates
// the same task once. The requester's OnTask receives the task's updates as durable events,
// even if the requester was down when they happened, and timed_out when the deadline passes
// without an outcome. It returns the task id.
func (ev *Event) Delegate(ctx context.Context, worker, kind string, input []byte, deadline time.Time) (string, error) {
	a := ev.agent
	if a == nil {
		return "", fmt.Errorf("%w: Delegate on an event not handed out by an agent", ErrConfig)
	}
	if ev.emitted == nil {
		ev.emitted = make(map[string]int)
	}
	key := "task:" + worker + ":" + kind
	n := ev.emitted[key]
	ev.emitted[key] = n + 1
	id := subjects.DerivedID(ev.ID, a.name, key, n)
	return id, a.delegate(ctx, id, ev, worker, kind, input, deadline)
}

// Delegate asks worker to do a task outside the handling of an event (from a timer, an API
// call, a test); id is the caller's task id and must be unique and stable across retries.
func (a *Agent) Delegate(ctx context.Context, id, worker, kind string, input []byte, deadline time.Time) error {
	return a.delegate(ctx, id, nil, worker, kind, input, deadline)
}

func (a *Agent) delegate(ctx context.Context, id string, cause *Event, worker, kind string, input []byte, deadline time.Time) error {
	if err := subjects.ValidName(worker); err != nil {
		return fmt.Errorf("agents: delegate: worker: %w", err)
	}
	if !deadline.After(time.Now()) {
		return fmt.Errorf("%w: %s", ErrTaskDeadline, deadline.Format(time.RFC3339))
	}
	ctx, cancel := a.publishContext(ctx)
	defer cancel()
	kv, err := a.tasksKV(ctx)
	if err != nil {
		return err
	}
	rec, _ := json.Marshal(taskRecord{Worker: worker, Kind: kind, Deadline: deadline.UTC(), State: subjects.TaskSubmitted})
	// Create, not Put: a retried delegation must not reset a task that already advanced.
	if _, err := kv.Create(ctx, a.name+"."+id, rec); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("agents: task record: %w", err)
	}
	msg := a.envelope(subjects.Task(worker, kind), id, "task."+kind, input)
	h := msg.Header
	h.Set(subjects.HeaderTaskID, id)
	h.Set(subjects.HeaderTaskKind, kind)
	h.Set(subjects.HeaderTaskRequester, a.name)
	h.Set(subjects.HeaderTaskWorker, worker)
	h.Set(subjects.HeaderTaskDeadline, deadline.UTC().Format(time.RFC3339Nano))
	hops := 0
	if cause != nil {
		hops = cause.Hops
		h.Set(subjects.HeaderCausationID, cause.ID)
		h.Set(subjects.HeaderCorrelationID, cause.CorrelationID)
		h.Set(subjects.HeaderChain, cause.chainFor(a.cfg.MaxHops))
		if tp := cause.Header.Get(subjects.HeaderTraceparent); tp != "" {
			h.Set(subjects.HeaderTraceparent, tp)
		}
		if hops+1 > a.cfg.MaxHops {
			return Permanent(fmt.Errorf("%w: delegating %q would make hop %d > %d", ErrHopLimit, kind, hops+1, a.cfg.MaxHops))
		}
	}
	h.Set(subjects.HeaderHops, strconv.Itoa(hops+1))
	if _, err := a.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("agents: delegate %s: %w", msg.Subject, err)
	}
	return nil
}

// newTask reads a task message.
func newTask(ev *Event) (*Task, error) {
	t := &Task{
		ID:        ev.Header.Get(subjects.HeaderTaskID),
		Kind:      ev.Header.Get(subjects.HeaderTaskKind),
		Requester: ev.Header.Get(subjects.HeaderTaskRequester),
		Input:     ev.Data,
		Event:     ev,
	}
	d, err := time.Parse(time.RFC3339Nano, ev.Header.Get(subjects.HeaderTaskDeadline))
	if err != nil || t.ID == "" || subjects.ValidName(t.Requester) != nil {
		return nil, Permanent(fmt.Errorf("agents: malformed task message %s (id %q, requester %q, deadline %q)",
			ev.Subject, t.ID, t.Requester, ev.Header.Get(subjects.HeaderTaskDeadline)))
	}
	t.Deadline = d
	return t, nil
}

// Working reports progress of t to its requester as a working update carrying data.
func (t *Task) Working(ctx context.Context, data []byte) error {
	t.working++
	return t.Event.agent.taskStatus(ctx, t, subjects.TaskWorking, t.working-1, data, "")
}

// taskStatus emits a status event of the worker about t; its id is derived from the task,
// the state and n, so a repeat is dropped by the stream.
func (a *Agent) taskStatus(ctx context.Context, t *Task, state string, n int, data []byte, reason string) error {
	id := subjects.DerivedID(t.ID, a.name, "task."+state, n)
	msg := a.envelope(subjects.TaskStatus(a.name, t.Requester, state), id, "task."+state, data)
	h := msg.Header
	h.Set(subjects.HeaderTaskID, t.ID)
	h.Set(subjects.HeaderTaskKind, t.Kind)
	h.Set(subjects.HeaderTaskRequester, t.Requester)
	h.Set(subjects.HeaderTaskWorker, a.name)
	h.Set(subjects.HeaderTaskState, state)
	h.Set(subjects.HeaderCausationID, t.Event.ID)
	h.Set(subjects.HeaderCorrelationID, t.Event.CorrelationID)
	h.Set(subjects.HeaderHops, strconv.Itoa(t.Event.Hops+1))
	if reason != "" {
		if len(reason) > maxReason {
			reason = reason[:maxReason]
		}
		h.Set(subjects.HeaderTaskError, printable(reason))
	}
	ctx, cancel := a.publishContext(ctx)
	defer cancel()
	if _, err := a.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("agents: task %s %s: %w", t.ID, state, err)
	}
	return nil
}

// runTask works one delegated task and reports its outcome. The returned error is for the
// task message itself (publish failures): the message is then retried.
func (a *Agent) runTask(ctx context.Context, ev *Event) error {
	t, err := newTask(ev)
	if err != nil {
		return err
	}
	h := a.cfg.Tasks[t.Kind]
	if h == nil {
		return a.taskStatus(ctx, t, subjects.TaskFailed, 0, nil, fmt.Sprintf("agent %s does not do tasks of kind %q", a.name, t.Kind))
	}
	if !time.Now().Before(t.Deadline) {
		return a.taskStatus(ctx, t, subjects.TaskTimedOut, 0, nil, "deadline passed before the worker started")
	}
	tctx, cancel := context.WithDeadline(ctx, t.Deadline)
	result, err := a.callTask(tctx, h, t)
	cancel()
	switch {
	case err == nil:
		return a.taskStatus(ctx, t, subjects.TaskCompleted, 0, result, "")
	case !time.Now().Before(t.Deadline):
		return a.taskStatus(ctx, t, subjects.TaskTimedOut, 0, nil, err.Error())
	case errors.Is(err, ErrPermanent) || (a.cfg.MaxDeliver > 0 && ev.Attempt >= a.cfg.MaxDeliver):
		return a.taskStatus(ctx, t, subjects.TaskFailed, 0, nil, err.Error())
	}
	return err
}

func (a *Agent) callTask(ctx context.Context, h TaskHandler, t *Task) (result []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPermanent, fmt.Errorf("%w: %v", ErrPanic, p))
		}
	}()
	return h(ctx, t)
}

// taskUpdate hands a status event of a task this agent delegated to OnTask, once per state
// change: updates after the task ended (a late completion after timed_out) are dropped.
func (a *Agent) taskUpdate(ctx context.Context, ev *Event) error {
	u := &TaskUpdate{
		ID:     ev.Header.Get(subjects.HeaderTaskID),
		Kind:   ev.Header.Get(subjects.HeaderTaskKind),
		Worker: ev.Header.Get(subjects.HeaderTaskWorker),
		State:  ev.Header.Get(subjects.HeaderTaskState),
		Result: ev.Data,
		Error:  ev.Header.Get(subjects.HeaderTaskError),
		Event:  ev,
	}
	if a.cfg.OnTask == nil || u.ID == "" {
		return nil
	}
	ok, err := a.advance(ctx, u.ID, u.State)
	if err != nil || !ok {
		return err
	}
	return a.cfg.OnTask(ctx, u)
}

// advance moves the task record to state. It reports false when the task had already ended,
// so the update must not be delivered. Non-terminal states leave the record as it is.
func (a *Agent) advance(ctx context.Context, id, state string) (bool, error) {
	kv, err := a.tasksKV(ctx)
	if err != nil {
		return false, err
	}
	key := a.name + "." + id
	for {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return true, nil // delegated without a record (by another client): deliver
		}
		if err != nil {
			return false, err
		}
		var rec taskRecord
		if json.Unmarshal(e.Value(), &rec) != nil {
			return true, nil
		}
		if terminal(rec.State) {
			return false, nil
		}
		if !terminal(state) {
			return true, nil
		}
		rec.State = state
		b, _ := json.Marshal(rec)
		if _, err := kv.Update(ctx, key, b, e.Revision()); err == nil {
			return true, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return false, err
		}
		// Another instance changed it meanwhile: read again.
	}
}

// watchDeadlines reports timed_out for tasks this agent delegated whose deadline passed with
// no outcome, including those that passed while the agent was down. It runs until ctx ends.
func (a *Agent) watchDeadlines(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		a.checkDeadlines(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) checkDeadlines(ctx context.Context) {
	kv, err := a.tasksKV(ctx)
	if err != nil {
		a.log.Warn().Err(err).Msg("task deadlines not checked")
		return
	}
	lister, err := kv.ListKeysFiltered(ctx, a.name+".>")
	if err != nil {
		a.log.Warn().Err(err).Msg("task deadlines not checked")
		return
	}
	defer func() { _ = lister.Stop() }()
	now := time.Now()
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue
		}
		var rec taskRecord
		if json.Unmarshal(e.Value(), &rec) != nil || terminal(rec.State) || !now.After(rec.Deadline) {
			continue
		}
		// The outcome goes through the bus like any update: the requester's own consumer
		// receives it durably, and the record decides which of it and a late worker report
		// is delivered.
		id := key[len(a.name)+1:]
		sid := subjects.DerivedID(id, a.name, "task."+subjects.TaskTimedOut, 0)
		msg := a.envelope(subjects.TaskStatus(a.name, a.name, subjects.TaskTimedOut), sid, "task."+subjects.TaskTimedOut, nil)
		h := msg.Header
		h.Set(subjects.HeaderTaskID, id)
		h.Set(subjects.HeaderTaskKind, rec.Kind)
		h.Set(subjects.HeaderTaskRequester, a.name)
		h.Set(subjects.HeaderTaskWorker, rec.Worker)
		h.Set(subjects.HeaderTaskState, subjects.TaskTimedOut)
		h.Set(subjects.HeaderTaskError, "no outcome from "+rec.Worker+" by the deadline "+rec.Deadline.Format(time.RFC3339))
		pctx, cancel := a.publishContext(ctx)
		_, err = a.js.PublishMsg(pctx, msg)
		cancel()
		if err != nil {
			a.log.Warn().Err(err).Str("task", id).Msg("timed_out not published; tried again at the next check")
		}
	}
}
