package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// FloorConfig describes a measurement of the cheapest way to store webhooks: an embedded
// JetStream in this process, asynchronous publishes of the envelope hookbus stores, InFlight
// of them outstanding.
type FloorConfig struct {
	StoreDir   string // a fresh directory is best
	SyncAlways bool
	// BodySize is the message body length; 1024 when zero.
	BodySize int
	// InFlight is the number of publishes awaiting their ack; 64 when zero.
	InFlight int
	// Warmup before and Duration of the measured window; 1s and 5s when zero.
	Warmup   time.Duration
	Duration time.Duration
	Labels   map[string]string
}

// FloorResult is the floor's figures over the measured window.
type FloorResult struct {
	Kind       string            `json:"kind"` // "floor"
	Labels     map[string]string `json:"labels,omitempty"`
	Window     float64           `json:"window_s"`
	Acked      int64             `json:"acked"` // acknowledged publishes in the window
	Throughput float64           `json:"acked_per_s"`
	CPUPerMsg  float64           `json:"cpu_per_msg_us"` // this process's CPU (server included) per acked message
	Errors     int64             `json:"errors"`
}

// Floor publishes for Warmup+Duration and reports what the measured window cost. The
// process should run nothing else meanwhile: its whole CPU time is counted.
func Floor(ctx context.Context, cfg FloorConfig) (*FloorResult, error) {
	if cfg.StoreDir == "" {
		return nil, fmt.Errorf("bench: floor needs a store directory")
	}
	if cfg.BodySize <= 0 {
		cfg.BodySize = 1024
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 64
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = time.Second
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	ns, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:-1", StoreDir: cfg.StoreDir, SyncAlways: cfg.SyncAlways, Name: "floor"}, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL(), ns.InProcess())
	if err != nil {
		return nil, fmt.Errorf("bench: connect: %w", err)
	}
	defer nc.Close()
	var acked, failed atomic.Int64
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.InFlight),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) { acked.Add(1) }),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }),
	)
	if err != nil {
		return nil, fmt.Errorf("bench: jetstream: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = js.CreateOrUpdateStream(cctx, subjects.Streams(subjects.StreamOptions{})[0])
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: stream: %w", err)
	}
	p, err := NewPayload(cfg.BodySize, "floor")
	if err != nil {
		return nil, err
	}
	body := make([]byte, cfg.BodySize)
	subject := subjects.Webhook("github", "issues.opened")
	now := time.Now().UTC().Format(time.RFC3339Nano)

	began := time.Now()
	from, to := began.Add(cfg.Warmup), began.Add(cfg.Warmup+cfg.Duration)
	type edge struct {
		at    time.Time
		cpu   time.Duration
		acked int64
	}
	var e [2]edge
	edges := [2]time.Time{from, to}
	next := 0
	var idBuf []byte
	for n := uint64(0); ctx.Err() == nil; n++ {
		t := time.Now()
		if next < 2 && !t.Before(edges[next]) {
			e[next] = edge{at: t, cpu: SelfCPU(), acked: acked.Load()}
			next++
		}
		if next == 2 {
			break
		}
		idBuf = DeliveryID{Run: 1, N: n}.Append(idBuf[:0])
		b, _ := p.Build(idBuf, 0)
		id := "github:" + string(idBuf)
		// The body is copied: an async publish may still hold the previous one.
		msg := &nats.Msg{Subject: subject, Data: append(body[:0:0], b...), Header: nats.Header{
			subjects.HeaderSpecVersion: {subjects.SpecVersion},
			subjects.HeaderID:          {id},
			subjects.HeaderSource:      {"/webhooks/github"},
			subjects.HeaderType:        {"issues.opened"},
			subjects.HeaderTime:        {now},
			subjects.HeaderContentType: {"application/json"},
			subjects.HeaderMsgID:       {id},
			subjects.HeaderVerifiedBy:  {"github"},
			subjects.HeaderDeliveryID:  {string(idBuf)},
		}}
		if _, err := js.PublishMsgAsync(msg); err != nil {
			failed.Add(1)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
	}
	res := &FloorResult{Kind: "floor", Labels: cfg.Labels, Errors: failed.Load()}
	if next < 2 {
		return res, ctx.Err()
	}
	window := e[1].at.Sub(e[0].at)
	res.Window = window.Seconds()
	res.Acked = e[1].acked - e[0].acked
	if window > 0 {
		res.Throughput = float64(res.Acked) / window.Seconds()
	}
	if res.Acked > 0 {
		res.CPUPerMsg = micros(e[1].cpu-e[0].cpu) / float64(res.Acked)
	}
	return res, nil
}
