package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// AgentConfig describes a measurement of one agent's throughput: Count events stored
// first, then handled by an agent (the agents SDK, in this process) whose handler does
// nothing.
type AgentConfig struct {
	NATS        string
	Count       int // 20000 when zero
	Concurrency int // the agent's; the SDK's default (1) when zero
	BodySize    int // 1024 when zero
	// PID is the NATS server's process (the bridge, with NATS embedded); 0 for none.
	PID     int
	Timeout time.Duration // bound on the handling; 2m when zero
	// Logger receives the agent's log (retries, failed acks); zerolog.Nop() when zero.
	Logger zerolog.Logger
	Labels map[string]string
}

// AgentResult is the agent's rate, from the first event handled to the last.
type AgentResult struct {
	Kind        string            `json:"kind"` // "agent"
	Labels      map[string]string `json:"labels,omitempty"`
	Concurrency int               `json:"concurrency"`
	Handled     int64             `json:"handled"`
	Seconds     float64           `json:"seconds"`
	Throughput  float64           `json:"events_per_s"`
	AgentCPU    float64           `json:"agent_cpu_per_event_us"`            // this process's CPU per event
	ServerCPU   float64           `json:"server_cpu_per_event_us,omitempty"` // the NATS server's
}

// AgentRate runs cfg. The events and the agent's consumer are left in the stream (the
// consumer is deleted).
func AgentRate(ctx context.Context, cfg AgentConfig) (*AgentResult, error) {
	if cfg.Count <= 0 {
		cfg.Count = 20000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	run := newRun()
	name := fmt.Sprintf("bench-agent-%08x", run)
	subject := fmt.Sprintf("%s.bench.agent_%08x", subjects.WebhooksRoot, run)
	nc, err := agents.Connect(cfg.NATS, name, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	if _, err := fill(ctx, nc, FillConfig{Count: cfg.Count, Subject: subject, BodySize: cfg.BodySize}); err != nil {
		return nil, err
	}

	var handled atomic.Int64
	var first, last atomic.Int64
	done := make(chan struct{})
	want := int64(cfg.Count)
	agent, err := agents.New(nc, agents.Config{
		Name:        name,
		Subjects:    []string{subject},
		Concurrency: cfg.Concurrency,
		Logger:      cfg.Logger,
		Handler: agents.HandlerFunc(func(context.Context, *agents.Event) error {
			now := time.Now().UnixNano()
			first.CompareAndSwap(0, now)
			if handled.Add(1) == want {
				last.Store(now)
				close(done)
			}
			return nil
		}),
	})
	if err != nil {
		return nil, err
	}
	var sampler *Sampler
	if cfg.PID > 0 {
		if sampler, err = StartSampler(cfg.PID, time.Second); err != nil {
			return nil, err
		}
		defer sampler.Stop()
	}
	selfBefore := SelfCPU()
	var serverBefore ProcSample
	if sampler != nil {
		serverBefore, _ = sampler.Mark()
	}
	actx, stop := context.WithCancel(context.WithoutCancel(ctx))
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Run(actx) }()
	var runErr error
	select {
	case <-done:
	case runErr = <-agentDone:
		if runErr == nil {
			runErr = fmt.Errorf("bench: agent stopped early")
		}
	case <-time.After(cfg.Timeout):
	case <-ctx.Done():
	}
	selfAfter := SelfCPU()
	var serverAfter ProcSample
	if sampler != nil {
		serverAfter, _ = sampler.Mark()
	}
	stop()
	if runErr == nil {
		runErr = <-agentDone
	}
	if js, err := jetstream.New(nc); err == nil {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = js.DeleteConsumer(dctx, subjects.StreamWebhooks, name)
		cancel()
	}
	res := &AgentResult{Kind: "agent", Labels: cfg.Labels, Concurrency: cfg.Concurrency, Handled: handled.Load()}
	if res.Concurrency == 0 {
		res.Concurrency = agents.DefaultConcurrency
	}
	if runErr != nil {
		return res, runErr
	}
	if l := last.Load(); l == 0 {
		return res, fmt.Errorf("bench: agent handled %d of %d events within %s", res.Handled, cfg.Count, cfg.Timeout)
	}
	span := time.Duration(last.Load() - first.Load())
	res.Seconds = span.Seconds()
	if span > 0 {
		res.Throughput = float64(res.Handled-1) / span.Seconds()
	}
	res.AgentCPU = micros(selfAfter-selfBefore) / float64(res.Handled)
	if sampler != nil {
		res.ServerCPU = micros(serverAfter.CPU-serverBefore.CPU) / float64(res.Handled)
	}
	return res, ctx.Err()
}
