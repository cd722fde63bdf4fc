package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// E2EConfig describes an end-to-end run: webhooks sent at a fixed rate, through the bridge,
// to one agent (the agents SDK, in this process) whose handler notes when each arrives.
type E2EConfig struct {
	Target
	// NATS is the URL the agent connects to.
	NATS string
	// Rate is the number of webhooks sent per second; 200 when zero.
	Rate float64
	// Conns bounds the requests in flight; 8 when zero.
	Conns int
	// Duration of sending; 10s when zero.
	Duration time.Duration
	// Settle bounds the wait for the last events to reach the handler; 10s when zero.
	Settle time.Duration
	// Concurrency is the agent's; the SDK's default (1) when zero.
	Concurrency int
	// Logger receives the agent's log (retries, failed acks); zerolog.Nop() when zero.
	Logger zerolog.Logger
	Labels map[string]string
}

// E2EResult is the run's latencies, both measured from the moment each request was due
// (so a stalled sender does not hide a stall).
type E2EResult struct {
	Kind    string            `json:"kind"` // "e2e"
	Labels  map[string]string `json:"labels,omitempty"`
	Rate    float64           `json:"rate_per_s"`
	Sent    int64             `json:"sent"`
	Acked   int64             `json:"acked"`
	Handled int64             `json:"handled"` // distinct events handled
	Skipped int64             `json:"skipped"` // sends not made because every connection was busy
	HTTP    Latency           `json:"http"`    // due → 2xx
	E2E     Latency           `json:"e2e"`     // due → handler called
	Missing int64             `json:"missing"` // acknowledged, not handled before Settle
	Errors  int64             `json:"errors"`  // transport errors and non-2xx answers
}

// E2E runs cfg and returns the latencies. The agent's durable consumer is deleted at the
// end.
func E2E(ctx context.Context, cfg E2EConfig) (*E2EResult, error) {
	run := newRun()
	cfg.Event = fmt.Sprintf("e2e_%08x", run)
	if err := cfg.Target.defaults(); err != nil {
		return nil, err
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 200
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 8
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 10 * time.Second
	}
	hc, uri, err := cfg.client(cfg.Conns)
	if err != nil {
		return nil, err
	}
	defer hc.CloseIdleConnections()
	p, err := NewPayload(cfg.BodySize, cfg.Secret)
	if err != nil {
		return nil, err
	}

	name := fmt.Sprintf("bench-e2e-%08x", run)
	nc, err := agents.Connect(cfg.NATS, name, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var mu sync.Mutex
	var e2e Histogram
	handled := map[string]bool{}
	allHandled := make(chan struct{})
	var want int64 = -1 // set once sending is over
	agent, err := agents.New(nc, agents.Config{
		Name:        name,
		Subjects:    []string{subjects.Webhook(cfg.Source, cfg.Event) + ".>"},
		Concurrency: cfg.Concurrency,
		Logger:      cfg.Logger,
		Handler: agents.HandlerFunc(func(_ context.Context, ev *agents.Event) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if handled[ev.ID] {
				return nil
			}
			handled[ev.ID] = true
			if sent, ok := p.Sent(ev.Data); ok {
				e2e.Record(now.Sub(time.Unix(0, sent)))
			}
			if int64(len(handled)) == want {
				close(allHandled)
			}
			return nil
		}),
	})
	if err != nil {
		return nil, err
	}
	actx, stopAgent := context.WithCancel(context.WithoutCancel(ctx))
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Run(actx) }()
	defer func() {
		stopAgent()
		<-agentDone
		js, err := jetstream.New(nc)
		if err == nil {
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = js.DeleteConsumer(dctx, subjects.StreamWebhooks, name)
			cancel()
		}
	}()
	if err := waitConsumer(ctx, nc, name, 10*time.Second); err != nil {
		return nil, err
	}

	res := &E2EResult{Kind: "e2e", Labels: cfg.Labels, Rate: cfg.Rate}
	due := make(chan time.Time, cfg.Conns)
	var httpHist Histogram
	var wg sync.WaitGroup
	var tally sync.Mutex
	for i := 0; i < cfg.Conns; i++ {
		s, err := newSender(&cfg.Target, hc, uri, run, uint16(i))
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := range due {
				status, _, err := s.send(at.UnixNano())
				took := time.Since(at)
				tally.Lock()
				res.Sent++
				if err != nil || status < 200 || status >= 300 {
					res.Errors++
				} else {
					res.Acked++
					httpHist.Record(took)
				}
				tally.Unlock()
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	began := time.Now()
	for i := 0; ; i++ {
		at := began.Add(time.Duration(i) * interval)
		if at.Sub(began) >= cfg.Duration || !sleepUntil(ctx, at) {
			break
		}
		select {
		case due <- at:
		default:
			res.Skipped++
		}
	}
	close(due)
	wg.Wait()

	mu.Lock()
	want = res.Acked
	if int64(len(handled)) >= want {
		close(allHandled)
	}
	mu.Unlock()
	select {
	case <-allHandled:
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
	}
	mu.Lock()
	res.Handled = int64(len(handled))
	res.E2E = e2e.Summary()
	mu.Unlock()
	res.HTTP = httpHist.Summary()
	if res.Handled < res.Acked {
		res.Missing = res.Acked - res.Handled
	}
	return res, ctx.Err()
}

// waitConsumer waits until the durable consumer name exists on WEBHOOKS.
func waitConsumer(ctx context.Context, nc *nats.Conn, name string, timeout time.Duration) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := js.Consumer(cctx, subjects.StreamWebhooks, name)
		cancel()
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) || time.Now().After(deadline) {
			return fmt.Errorf("bench: consumer %s: %w", name, err)
		}
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			return ctx.Err()
		}
	}
}
