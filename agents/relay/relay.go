package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// setupTimeout bounds the bucket reads and creations at start.
const setupTimeout = 10 * time.Second

// Relay delivers bus events to HTTP endpoints and task outcomes to callback URLs. Create it
// with New and start it with Run.
type Relay struct {
	cfg *Config
	nc  *nats.Conn
	js  jetstream.JetStream
	log zerolog.Logger

	endpoints    []*target
	destinations []*target

	state     jetstream.KeyValue // BucketState
	callbacks jetstream.KeyValue // BucketCallbacks; nil without destinations

	metrics *metrics

	mu        sync.Mutex
	ran       bool
	running   bool                // every consumer started, and not stopping
	live      map[string][]string // consumers whose agent runs: name → streams
	adminAddr string
}

// New validates cfg (filling its defaults) and binds the relay to nc. It returns
// Config.Validate's error, or an error when JetStream is not available on nc.
func New(nc *nats.Conn, cfg *Config, log zerolog.Logger) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("relay: jetstream: %w", err)
	}
	r := &Relay{cfg: cfg, nc: nc, js: js, log: log.With().Str("agent", Name).Logger()}
	for _, e := range cfg.Endpoints {
		t := newTarget(e.Name, endpointAgent(e.Name), e.Delivery, &cfg.SSRF, r.log)
		t.url, t.filters = e.URL, e.Subjects
		r.endpoints = append(r.endpoints, t)
	}
	for _, d := range cfg.Callbacks.Destinations {
		t := newTarget(d.Name, destinationAgent(d.Name), d.Delivery, &cfg.SSRF, r.log)
		t.callback = true
		t.prefix, _ = checkPrefix(d.URLPrefix, &cfg.SSRF)
		r.destinations = append(r.destinations, t)
	}
	r.metrics = newMetrics(append(slices.Clone(r.endpoints), r.destinations...), len(r.destinations) > 0)
	return r, nil
}

// Run creates or updates the relay's durable consumers — relay-<endpoint> per endpoint and,
// with callback destinations, relay-tasks and relay-cb-<destination> — and delivers until
// ctx is done. Endpoints recorded as disabled are skipped. With Config.Admin.Listen set, it
// first listens there (see AdminAddr) and serves /metrics, /healthz and /readyz until it
// returns. On stop, attempts waiting on a hold give up at once (their events are retried
// later), attempts in flight finish. Run returns nil after a stop, or an error when the admin
// address cannot be bound or a bucket or a consumer cannot be set up; one failing consumer
// stops the others. A Relay runs once.
func (r *Relay) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.ran {
		r.mu.Unlock()
		return errors.New("relay: Run called twice")
	}
	r.ran = true
	r.mu.Unlock()

	if r.cfg.Admin.Listen != "" {
		stopAdmin, err := r.serveAdmin(r.cfg.Admin.Listen)
		if err != nil {
			return err
		}
		defer stopAdmin()
	}

	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	var err error
	if r.state, err = bindOrCreate(sctx, r.js, stateBucket()); err != nil {
		return fmt.Errorf("relay: bucket %s: %w", BucketState, err)
	}
	if len(r.destinations) > 0 {
		if r.callbacks, err = bindOrCreate(sctx, r.js, callbacksBucket()); err != nil {
			return fmt.Errorf("relay: bucket %s: %w", BucketCallbacks, err)
		}
	}

	type unit struct {
		cfg agents.Config
		t   *target // nil for the recorder
	}
	var units []unit
	for _, t := range r.endpoints {
		off, err := isDisabled(sctx, r.state, t.agent)
		if err != nil {
			return fmt.Errorf("relay: endpoint %s: %w", t.name, err)
		}
		if off {
			t.disabled.Store(true)
			r.log.Warn().Str("endpoint", t.name).Str("key", BucketState+" "+disabledKey(t.agent)).
				Msg("endpoint disabled (it answered 410 Gone): its events wait until the key is deleted and the relay restarted")
			continue
		}
		units = append(units, unit{r.agentConfig(t, t.filters, r.handleEndpoint(t)), t})
	}
	if len(r.destinations) > 0 {
		units = append(units, unit{cfg: agents.Config{
			Name:        recorderAgent,
			Subjects:    []string{subjects.AgentsRoot + ".*.tasks.>"},
			Handler:     agents.HandlerFunc(r.recordTask),
			Concurrency: 16,
			Logger:      r.log,
		}})
		for _, t := range r.destinations {
			units = append(units, unit{r.agentConfig(t, taskOutcomeFilters(), r.handleCallback(t)), t})
		}
	}
	if len(units) == 0 {
		r.log.Warn().Msg("nothing to relay: every endpoint is disabled")
	}

	runCtx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	for _, u := range units {
		a, err := agents.New(r.nc, u.cfg)
		if err != nil {
			stopAll()
			wg.Wait()
			return fmt.Errorf("relay: %s: %w", u.cfg.Name, err)
		}
		actx, stop := context.WithCancel(runCtx)
		if u.t != nil {
			u.t.stop, u.t.stopping = stop, actx.Done()
		}
		r.setLive(u.cfg.Name, streamsOf(u.cfg.Subjects))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.dropLive(u.cfg.Name)
			defer stop()
			if err := a.Run(actx); err != nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
				stopAll()
			}
		}()
	}
	// Agents may end on their own (a disabled endpoint); the relay runs until stopped.
	r.setRunning(true)
	<-runCtx.Done()
	r.setRunning(false)
	wg.Wait()
	for _, t := range append(r.endpoints, r.destinations...) {
		t.client.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// agentConfig is the agent that consumes for t: its concurrency, and its schedule as the
// SDK's backoff, after which the event is dead-lettered on dlq.<consumer>.
func (r *Relay) agentConfig(t *target, filters []string, h agents.Handler) agents.Config {
	return agents.Config{
		Name:        t.agent,
		Subjects:    filters,
		Handler:     h,
		Concurrency: t.d.Concurrency,
		// No fetching ahead: an endpoint holds at most `concurrency` events unsettled, so
		// an outage walks that many through the retry schedule, not hundreds.
		MaxAckPending: t.d.Concurrency,
		Backoff:       t.schedule,
		MaxDeliver:    t.maxDeliver(),
		// In-flight attempts finish on stop; holds give up at once.
		StopTimeout: t.d.Timeout + 5*time.Second,
		Logger:      t.log,
	}
}

// own reports whether subject is the relay's own: its events and tasks (never delivered, or
// delivery events would beget delivery events), or the dead letters of consumer itself.
func own(subject, consumer string) bool {
	p, err := subjects.Parse(subject)
	if err != nil {
		return false
	}
	switch p.Root {
	case subjects.AgentsRoot:
		return p.Owner == Name || strings.HasPrefix(p.Owner, Name+"-")
	case subjects.DLQRoot:
		return p.Owner == consumer
	}
	return false
}

// handleEndpoint delivers each event of an endpoint's subjects, unless it is the relay's
// own. A success is remembered (agents.Event.Once), so an event redelivered after a lost
// acknowledgement is not sent again.
func (r *Relay) handleEndpoint(t *target) agents.Handler {
	return agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
		if own(ev.Subject, t.agent) {
			return nil
		}
		if t.disabled.Load() {
			return fmt.Errorf("%w: %s", ErrDisabled, t.name)
		}
		_, err := ev.Once(ctx, "deliver", func(ctx context.Context) error {
			return r.deliver(ctx, t, ev, request{
				url:         t.url,
				body:        ev.Data,
				contentType: ev.ContentType,
				header:      eventHeaders(ev),
			})
		})
		return err
	})
}

// eventHeaders describe the event beside the signed body (they are not signed).
func eventHeaders(ev *agents.Event) map[string]string {
	h := map[string]string{
		"Hookbus-Event-Type": ev.Type,
		"Hookbus-Subject":    ev.Subject,
		"Hookbus-Attempt":    fmt.Sprint(ev.Attempt),
	}
	if ev.CorrelationID != "" {
		h[subjects.HeaderCorrelationID] = ev.CorrelationID
	}
	if tp := ev.Header.Get(subjects.HeaderTraceparent); tp != "" {
		h[subjects.HeaderTraceparent] = tp
	}
	for k, v := range h {
		if !printableHeader(v) {
			delete(h, k)
		}
	}
	return h
}

func printableHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] == 0x7f {
			return false
		}
	}
	return true
}

// disable records that t answered 410 Gone, stops its agent and returns the error that
// leaves the event to be retried once the endpoint is enabled again. When the record cannot
// be stored the endpoint stays enabled and the event is retried.
func (r *Relay) disable(t *target, ev *agents.Event, a Attempt) error {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	err := disable(ctx, r.state, t.agent, disabledRecord{Endpoint: t.name, Status: a.Status, EventID: ev.ID, Time: time.Now().UTC()})
	if err != nil {
		a.Outcome, a.Error = OutcomeRetrying, "410 Gone, but the endpoint could not be disabled: "+err.Error()
		r.record(ev, t.agent, a)
		return fmt.Errorf("%s answered 410 Gone; disabling it failed: %w", t.name, err)
	}
	t.disabled.Store(true)
	a.Outcome, a.Error = OutcomeDisabled, "410 Gone: endpoint disabled"
	r.record(ev, t.agent, a)
	t.log.Error().Str("endpoint", t.name).Str("key", BucketState+" "+disabledKey(t.agent)).
		Msg("endpoint answered 410 Gone: disabled; its events wait until the key is deleted and the relay restarted")
	if t.stop != nil {
		t.stop()
	}
	return fmt.Errorf("%w: %s answered 410 Gone", ErrDisabled, t.name)
}
