package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// FillConfig describes filling the WEBHOOKS stream directly (not through the bridge) with
// Count envelopes of BodySize bytes under Subject.
type FillConfig struct {
	NATS     string // URL
	Count    int
	Subject  string // under webhooks.>; "webhooks.bench.fill" when empty
	BodySize int    // 1024 when zero
	InFlight int    // outstanding publishes; 256 when zero
	Labels   map[string]string
}

// FillResult says how long the fill took.
type FillResult struct {
	Kind       string            `json:"kind"` // "fill"
	Labels     map[string]string `json:"labels,omitempty"`
	Subject    string            `json:"subject"`
	Stored     int64             `json:"stored"`
	Seconds    float64           `json:"seconds"`
	Throughput float64           `json:"stored_per_s"`
}

// Fill connects to cfg.NATS and stores cfg.Count messages, each with its own id.
func Fill(ctx context.Context, cfg FillConfig) (*FillResult, error) {
	nc, err := nats.Connect(cfg.NATS, nats.Name("hookbus-bench-fill"))
	if err != nil {
		return nil, fmt.Errorf("bench: connect to NATS: %w", err)
	}
	defer nc.Close()
	return fill(ctx, nc, cfg)
}

func fill(ctx context.Context, nc *nats.Conn, cfg FillConfig) (*FillResult, error) {
	if cfg.Subject == "" {
		cfg.Subject = subjects.WebhooksRoot + ".bench.fill"
	}
	if cfg.BodySize <= 0 {
		cfg.BodySize = 1024
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 256
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.InFlight),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}))
	if err != nil {
		return nil, fmt.Errorf("bench: jetstream: %w", err)
	}
	p, err := NewPayload(cfg.BodySize, "fill")
	if err != nil {
		return nil, err
	}
	run := newRun()
	began := time.Now()
	now := began.UTC().Format(time.RFC3339Nano)
	var idBuf []byte
	for n := 0; n < cfg.Count && ctx.Err() == nil; n++ {
		idBuf = DeliveryID{Run: run, N: uint64(n)}.Append(idBuf[:0])
		body, _ := p.Build(idBuf, 0)
		id := "bench:" + string(idBuf)
		msg := &nats.Msg{Subject: cfg.Subject, Data: append([]byte(nil), body...), Header: nats.Header{
			subjects.HeaderSpecVersion: {subjects.SpecVersion},
			subjects.HeaderID:          {id},
			subjects.HeaderSource:      {"/webhooks/bench"},
			subjects.HeaderType:        {"fill"},
			subjects.HeaderTime:        {now},
			subjects.HeaderContentType: {"application/json"},
			subjects.HeaderMsgID:       {id},
		}}
		if _, err := js.PublishMsgAsync(msg); err != nil {
			return nil, fmt.Errorf("bench: fill: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("bench: fill: %d publishes still unacknowledged after a minute", js.PublishAsyncPending())
	}
	if n := failed.Load(); n > 0 {
		return nil, fmt.Errorf("bench: fill: %d publishes failed, the first with %v", n, firstErr.Load())
	}
	res := &FillResult{Kind: "fill", Labels: cfg.Labels, Subject: cfg.Subject, Stored: int64(cfg.Count), Seconds: time.Since(began).Seconds()}
	if res.Seconds > 0 {
		res.Throughput = float64(res.Stored) / res.Seconds
	}
	return res, ctx.Err()
}
