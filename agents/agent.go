package agents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Defaults applied by Config.Validate to zero fields.
const (
	DefaultAckWait        = 30 * time.Second
	DefaultConcurrency    = 1
	DefaultMaxAckPending  = 256
	DefaultStopTimeout    = 30 * time.Second
	DefaultPublishTimeout = 5 * time.Second
	DefaultMaxDeliver     = 10
	DefaultMaxHops        = 16
)

// DefaultBackoff is the redelivery delay schedule after a handler error; the last step
// repeats.
var DefaultBackoff = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
}

// Config describes one agent. Name, Subjects and Handler are required; the zero value of
// every other field means its default.
type Config struct {
	// Name is the agent's name: its consumers' durable name and the token in
	// agents.<name>.events.>. 1-64 bytes of [a-z0-9_-].
	Name string
	// Subjects are the filters the agent consumes, e.g. "webhooks.github.issues.>" or
	// "agents.triage.events.>". Filters under one root share one durable consumer.
	//
	// An agent that consumes anything also reads its replay subject,
	// subjects.Replays(Name), without being told: the copies that "hookbus replay
	// --to-agent" and "hookbus dlq redrive" send to it alone reach it like the original
	// event, under the original subject and with Event.Replay set. Copies sent to another
	// agent alone, which a broad filter such as "agents.>" matches, are acknowledged
	// without being handled.
	Subjects []string
	// Handler reacts to each event matching Subjects.
	Handler Handler
	// Tasks are the kinds of task this agent works on for others, by kind: the agent then
	// also consumes agents.<name>.tasks.>.
	Tasks map[string]TaskHandler
	// OnTask receives the updates of tasks this agent delegated (see Event.Delegate): the
	// agent then also consumes agents.*.events.task.<name>.>.
	OnTask TaskUpdateHandler
	// TaskCheckInterval is how often delegated tasks are checked for passed deadlines;
	// default 1s.
	TaskCheckInterval time.Duration
	// Replies answer quick requests by kind (see Ask), outside any stream.
	Replies map[string]ReplyHandler
	// Concurrency bounds the handlers running at once. Default 1: events are handled one at
	// a time, in the order they were stored; an event that fails is retried after its
	// backoff while the agent goes on with the next ones (see MaxAckPending for strict order).
	Concurrency int
	// MaxAckPending bounds the events the agent holds without having settled them on the
	// server: running, fetched ahead and waiting for a free handler, and waiting for their
	// retry. Fetching ahead lets a handler take the next event at once instead of waiting
	// for the server after each one. Default the larger of DefaultMaxAckPending and
	// Concurrency; it must not be below Concurrency. While MaxAckPending events wait for
	// retries, nothing new is fetched. Set it to Concurrency to fetch nothing ahead; with
	// both at 1, an event being retried holds back every event after it (strict order).
	// Events fetched ahead are held in memory, bodies included: lower it for large events.
	//
	// An event fetched ahead and not yet started when the agent stops is handed back to the
	// server, not handled: it is delivered again, its attempt count one higher. After a
	// start that finds events of an earlier run unsettled (a crash, a stop), the agent
	// fetches only what it can start at once until they are back, so an event that kills
	// the process each time counts attempts alone and goes to the dead letters alone.
	MaxAckPending int
	// AckWait is how long the server waits for an acknowledgement before redelivering. A
	// running handler keeps its lease, and so does an event fetched ahead while it waits
	// for a handler: the SDK reports progress for both before AckWait/2 has passed.
	AckWait time.Duration
	// Backoff is the delay before each redelivery after a handler error; the last step
	// repeats. Default DefaultBackoff.
	Backoff []time.Duration
	// MaxDeliver bounds deliveries of one event: after that many failed attempts (errors,
	// crashes before an acknowledgement, stops that handed it back unstarted) the event is
	// dead-lettered on dlq.<name> and the agent moves on. Default DefaultMaxDeliver; -1
	// retries for ever.
	MaxDeliver int
	// MaxHops bounds chains of agents triggering each other: an event that has passed
	// through more agents is dead-lettered instead of handled, and Emit refuses to go past
	// it (ErrHopLimit). Default DefaultMaxHops.
	MaxHops int
	// DoneTTL is how long Event.Once remembers a completed step; default
	// subjects.DefaultDoneTTL (7 days). It is set when the bucket is first created.
	DoneTTL time.Duration
	// StopTimeout bounds the wait for running handlers on stop; then their ctx is cancelled.
	StopTimeout time.Duration
	// PublishTimeout bounds Emit when its ctx has no deadline.
	PublishTimeout time.Duration
	// Logger receives the agent's log; zerolog.Nop() when zero.
	Logger zerolog.Logger
}

// Validate checks the config and fills defaults. Its errors wrap ErrConfig and name the
// field.
func (c *Config) Validate() error {
	var errs []error
	if err := subjects.ValidName(c.Name); err != nil {
		errs = append(errs, fmt.Errorf("%w: Name: %w", ErrConfig, err))
	}
	if len(c.Subjects) == 0 && len(c.Tasks) == 0 && c.OnTask == nil && len(c.Replies) == 0 {
		errs = append(errs, fmt.Errorf("%w: Subjects: at least one filter (or Tasks, OnTask, Replies) is required", ErrConfig))
	}
	for _, s := range c.Subjects {
		if subjects.StreamFor(s) == "" {
			errs = append(errs, fmt.Errorf("%w: Subjects: %q is not under the webhooks, agents or dlq roots", ErrConfig, s))
		}
	}
	if c.Handler == nil && len(c.Subjects) > 0 {
		errs = append(errs, fmt.Errorf("%w: Handler is required with Subjects", ErrConfig))
	}
	for kind := range c.Tasks {
		if subjects.Token(kind) != kind {
			errs = append(errs, fmt.Errorf("%w: Tasks: kind %q is not a subject token ([A-Za-z0-9_-])", ErrConfig, kind))
		}
	}
	for kind := range c.Replies {
		if subjects.Token(kind) != kind {
			errs = append(errs, fmt.Errorf("%w: Replies: kind %q is not a subject token ([A-Za-z0-9_-])", ErrConfig, kind))
		}
	}
	if c.Concurrency < 0 || c.MaxAckPending < 0 || c.AckWait < 0 || c.StopTimeout < 0 || c.PublishTimeout < 0 || c.MaxHops < 0 {
		errs = append(errs, fmt.Errorf("%w: Concurrency, MaxAckPending, AckWait, StopTimeout, PublishTimeout and MaxHops must not be negative", ErrConfig))
	} else if c.MaxAckPending > 0 && c.MaxAckPending < max(c.Concurrency, DefaultConcurrency) {
		errs = append(errs, fmt.Errorf("%w: MaxAckPending: %d is below Concurrency %d", ErrConfig, c.MaxAckPending, max(c.Concurrency, DefaultConcurrency)))
	}
	if c.MaxDeliver < -1 {
		errs = append(errs, fmt.Errorf("%w: MaxDeliver: %d, want -1 (no bound) or more", ErrConfig, c.MaxDeliver))
	}
	for _, d := range c.Backoff {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%w: Backoff: step %s must be positive", ErrConfig, d))
			break
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = max(DefaultMaxAckPending, c.Concurrency)
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if len(c.Backoff) == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.MaxHops == 0 {
		c.MaxHops = DefaultMaxHops
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.TaskCheckInterval <= 0 {
		c.TaskCheckInterval = time.Second
	}
	return nil
}

// Agent is a configured agent bound to a NATS connection. Create it with New and start it
// with Run.
type Agent struct {
	name string
	cfg  Config
	nc   *nats.Conn
	js   jetstream.JetStream
	log  zerolog.Logger
	// logs is false when log writes nothing: no logger with the event's fields is made.
	logs bool
	// replays is the prefix of the agent's replay subjects, "agents.<name>.replay.".
	replays string
	done    doneStore

	taskStore kvStore
}

// New validates cfg and binds it to nc. It returns Config.Validate's error, or an error when
// JetStream is not available on nc.
func New(nc *nats.Conn, cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("agents: jetstream: %w", err)
	}
	a := &Agent{name: cfg.Name, cfg: cfg, nc: nc, js: js, log: cfg.Logger.With().Str("agent", cfg.Name).Logger()}
	if e := a.log.WithLevel(zerolog.NoLevel); e != nil {
		a.logs = true
		e.Discard()
	}
	a.replays = strings.TrimSuffix(subjects.Replays(cfg.Name), ">")
	return a, nil
}

// agentsPrefix starts every subject under the agents root.
const agentsPrefix = subjects.AgentsRoot + "."

// parseAgentSubject parses subject if it lies under the agents root; a webhook or a dead
// letter subject is not parsed at all.
func parseAgentSubject(subject string) (subjects.Parsed, bool) {
	if !strings.HasPrefix(subject, agentsPrefix) {
		return subjects.Parsed{}, false
	}
	p, err := subjects.Parse(subject)
	return p, err == nil && p.Root == subjects.AgentsRoot
}

// Name is the agent's name.
func (a *Agent) Name() string { return a.name }

// consumerConfigs groups the agent's filters by the stream that stores them: one durable
// consumer per stream.
func (a *Agent) consumerConfigs() map[string]jetstream.ConsumerConfig {
	out := make(map[string]jetstream.ConsumerConfig)
	filters := append([]string(nil), a.cfg.Subjects...)
	if len(a.cfg.Tasks) > 0 {
		filters = append(filters, subjects.Tasks(a.name))
	}
	if a.cfg.OnTask != nil {
		filters = append(filters, subjects.TaskStatuses(a.name))
	}
	if len(filters) > 0 {
		filters = withReplays(filters, subjects.Replays(a.name))
	}
	for _, s := range filters {
		stream := subjects.StreamFor(s)
		cc, ok := out[stream]
		if !ok {
			cc = jetstream.ConsumerConfig{
				Durable:       a.name,
				Description:   "hookbus agent " + a.name,
				DeliverPolicy: jetstream.DeliverAllPolicy,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       a.cfg.AckWait,
				// The SDK counts attempts itself and dead-letters; the server never drops an
				// event silently after a maximum.
				MaxDeliver:    -1,
				MaxAckPending: a.cfg.MaxAckPending,
			}
		}
		cc.FilterSubjects = append(cc.FilterSubjects, s)
		out[stream] = cc
	}
	return out
}

// withReplays adds the agent's replay filter to its filters. A filter that already reads
// every copy sent to the agent makes it unneeded; filters that read some of them give way
// to it, since JetStream refuses overlapping filters on one consumer. A filter that reads
// some copies and something else as well (agents.*.replay.webhooks.>) is kept as it is,
// without the replay filter, for the same reason.
func withReplays(filters []string, replays string) []string {
	out := make([]string, 0, len(filters)+1)
	for _, f := range filters {
		switch {
		case subjects.Covers(f, replays):
			return filters
		case subjects.Covers(replays, f):
			continue
		case subjects.Overlaps(f, replays):
			return filters
		}
		out = append(out, f)
	}
	return append(out, replays)
}

// Run creates or updates the agent's durable consumers and handles events until ctx is done.
// Then it stops fetching, hands the events fetched ahead and not started back to the server
// (they are delivered again), waits for running handlers to finish and be acknowledged (at
// most StopTimeout, after which their ctx is cancelled), and returns nil. It returns an error
// when a consumer cannot be created (stream missing, NATS unavailable).
func (a *Agent) Run(ctx context.Context) error {
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()

	consumers := a.consumerConfigs()
	s := newSession(ctx, a, len(consumers))
	var readers []*reader
	stopAll := func() {
		for _, r := range readers {
			if r.it != nil {
				r.it.Stop()
			}
		}
	}
	// Every consumer exists before any fetches: a failure leaves no event fetched.
	created := make(map[string]jetstream.Consumer, len(consumers))
	for stream, cc := range consumers {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cons, err := a.js.CreateOrUpdateConsumer(cctx, stream, cc)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped before it started: not a failure
			}
			return fmt.Errorf("agents: %s: consumer on stream %s: %w", a.name, stream, err)
		}
		created[stream] = cons
	}
	for stream, cons := range created {
		r, err := s.newReader(stream, cons)
		if err != nil {
			stopAll()
			return fmt.Errorf("agents: %s: consume %s: %w", a.name, stream, err)
		}
		readers = append(readers, r)
		a.log.Info().Str("stream", stream).Strs("filters", consumers[stream].FilterSubjects).Bool("recovering", r.it == nil).Msg("agent consuming")
	}

	stopReplies, err := a.serveReplies(hard)
	if err != nil {
		stopAll()
		return err
	}
	defer stopReplies()
	var tasks sync.WaitGroup
	if a.cfg.OnTask != nil {
		tasks.Add(1)
		go func() {
			defer tasks.Done()
			a.watchDeadlines(ctx, a.cfg.TaskCheckInterval)
		}()
	}

	stopLeases := s.leases.keep(a.cfg.AckWait)
	defer stopLeases()
	var workers sync.WaitGroup
	base := a.log.WithContext(hard)
	for range a.cfg.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			s.work(base)
		}()
	}
	var fetching sync.WaitGroup
	for _, r := range readers {
		fetching.Add(1)
		go func() {
			defer fetching.Done()
			r.run(ctx)
		}()
	}

	<-ctx.Done()
	a.log.Info().Msg("agent stopping: waiting for running handlers")
	fetching.Wait()
	tasks.Wait()
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(a.cfg.StopTimeout):
		a.log.Warn().Dur("stop_timeout", a.cfg.StopTimeout).Msg("handlers still running: cancelling them")
		cancelHard()
		<-done
	}
	s.handBack()
	if a.nc.IsConnected() {
		// The hand-backs and last acknowledgements reach the server before Run returns,
		// even if the caller exits without closing the connection.
		_ = a.nc.FlushTimeout(time.Second)
	}
	a.log.Info().Msg("agent stopped")
	return nil
}

// process runs the handler for one message and settles it: ack on success, delayed nak on
// error, dead letter on a permanent error or the last allowed attempt. ctx carries the
// agent's logger; stopping is closed once the agent stops, and acknowledgements are then
// confirmed by the server before Run returns.
func (a *Agent) process(ctx context.Context, msg jetstream.Msg, stopping <-chan struct{}) {
	ev := newEvent(a, msg)
	log := a.log
	if a.logs {
		log = a.log.With().Str("id", ev.ID).Str("subject", ev.Subject).Bool("replay", ev.Replay).Int("attempt", ev.Attempt).Logger()
		ctx = log.WithContext(ctx)
	}
	switch {
	case ev.foreign():
		log.Debug().Str("read_from", ev.readFrom).Msg("copy sent to another agent alone: skipped")
		a.ack(msg, log, closed(stopping))
		return
	case ev.Hops > a.cfg.MaxHops:
		a.giveUp(ev, msg, log, fmt.Errorf("%w: %d hops > %d; chain: %s", ErrHopLimit, ev.Hops, a.cfg.MaxHops, ev.chain()))
		return
	case a.cfg.MaxDeliver > 0 && ev.Attempt > a.cfg.MaxDeliver:
		// Earlier attempts never settled: the handler hung or its process died each time.
		a.giveUp(ev, msg, log, fmt.Errorf("delivered %d times without an outcome (max deliver %d)", ev.Attempt-1, a.cfg.MaxDeliver))
		return
	}
	err := a.dispatch(ctx, ev)
	if err == nil {
		a.ack(msg, log, closed(stopping))
		return
	}
	if errors.Is(err, ErrPermanent) || (a.cfg.MaxDeliver > 0 && ev.Attempt >= a.cfg.MaxDeliver) {
		a.giveUp(ev, msg, log, err)
		return
	}
	a.retry(ev, msg, log, err)
}

// ack acknowledges msg. The acknowledgement is not confirmed: if it is lost, the event is
// delivered again and its emitted events and Once steps are de-duplicated then. When the
// agent is stopping (confirm), it waits for the server to confirm, so a stopped agent has
// settled what it handled.
func (a *Agent) ack(msg jetstream.Msg, log zerolog.Logger, confirm bool) {
	if !confirm {
		if err := msg.Ack(); err != nil {
			log.Warn().Err(err).Msg("ack not sent")
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.PublishTimeout)
	defer cancel()
	if err := msg.DoubleAck(ctx); err != nil {
		// The event will be redelivered; its emitted events are de-duplicated then.
		log.Warn().Err(err).Msg("ack not confirmed")
	}
}

// retry has the event redelivered after the backoff for its attempt.
func (a *Agent) retry(ev *Event, msg jetstream.Msg, log zerolog.Logger, err error) {
	delay := a.backoff(ev.Attempt)
	log.Warn().Err(err).Dur("retry_in", delay).Msg("handler failed")
	if err := msg.NakWithDelay(delay); err != nil {
		log.Warn().Err(err).Msg("nak failed; the event is redelivered after AckWait")
	}
}

// giveUp dead-letters the event; if the dead letter cannot be stored, the event is retried
// instead, so nothing is dropped.
func (a *Agent) giveUp(ev *Event, msg jetstream.Msg, log zerolog.Logger, reason error) {
	if err := a.deadLetter(ev, msg, reason); err != nil {
		a.retry(ev, msg, log, fmt.Errorf("dead letter not stored (%w) for: %w", err, reason))
		return
	}
	log.Error().Str("reason", reason.Error()).Str("dlq", subjects.DLQ(a.name)).Msg("event dead-lettered")
}

// dispatch hands ev to what the agent does with it: work a task, take a task update, or run
// the handler. A panic becomes an error.
func (a *Agent) dispatch(ctx context.Context, ev *Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	if p, ok := parseAgentSubject(ev.Subject); ok {
		switch {
		case p.Kind == "tasks" && p.Owner == a.name && len(a.cfg.Tasks) > 0:
			return a.runTask(ctx, ev)
		case p.Kind == "events" && a.cfg.OnTask != nil && ev.Header.Get(subjects.HeaderTaskRequester) == a.name &&
			ev.Subject == subjects.TaskStatus(p.Owner, a.name, ev.Header.Get(subjects.HeaderTaskState)):
			return a.taskUpdate(ctx, ev)
		}
	}
	if a.cfg.Handler == nil {
		return nil
	}
	return a.cfg.Handler.Handle(ctx, ev)
}

func (a *Agent) backoff(attempt int) time.Duration {
	i := attempt - 1
	if i < 0 {
		i = 0
	}
	if i >= len(a.cfg.Backoff) {
		i = len(a.cfg.Backoff) - 1
	}
	return a.cfg.Backoff[i]
}

func (a *Agent) publishContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, a.cfg.PublishTimeout)
}
