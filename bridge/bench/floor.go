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
	// FastBatch > 0 publishes JetStream fast batches of that many messages instead of one
	// publish each: the last message of a batch commits it and one PubAck answers the
	// whole batch. It measures how far below the per-publish floor batching can go.
	FastBatch int
	Labels    map[string]string
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
	if cfg.FastBatch > 0 {
		return fastBatchFloor(ctx, cfg, nc)
	}
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
	msgs, err := newFloorMessages(cfg.BodySize)
	if err != nil {
		return nil, err
	}
	w := newFloorWindow(cfg, acked.Load)
	for ctx.Err() == nil && w.tick() {
		if _, err := js.PublishMsgAsync(msgs.next()); err != nil {
			failed.Add(1)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
	}
	return w.result(ctx, failed.Load())
}

// floorMessages builds the envelopes the floor publishes: hookbus's headers, a signed
// payload, a fresh delivery id each.
type floorMessages struct {
	p       *Payload
	body    []byte
	subject string
	now     string
	n       uint64
	id      []byte
}

func newFloorMessages(size int) (*floorMessages, error) {
	p, err := NewPayload(size, "floor")
	if err != nil {
		return nil, err
	}
	return &floorMessages{p: p, body: make([]byte, size), subject: subjects.Webhook("github", "issues.opened"),
		now: time.Now().UTC().Format(time.RFC3339Nano)}, nil
}

func (m *floorMessages) next() *nats.Msg {
	m.id = DeliveryID{Run: 1, N: m.n}.Append(m.id[:0])
	m.n++
	b, _ := m.p.Build(m.id, 0)
	id := "github:" + string(m.id)
	// The body is copied: an async publish may still hold the previous one.
	return &nats.Msg{Subject: m.subject, Data: append(m.body[:0:0], b...), Header: nats.Header{
		subjects.HeaderSpecVersion: {subjects.SpecVersion},
		subjects.HeaderID:          {id},
		subjects.HeaderSource:      {"/webhooks/github"},
		subjects.HeaderType:        {"issues.opened"},
		subjects.HeaderTime:        {m.now},
		subjects.HeaderContentType: {"application/json"},
		subjects.HeaderMsgID:       {id},
		subjects.HeaderVerifiedBy:  {"github"},
		subjects.HeaderDeliveryID:  {string(m.id)},
	}}
}

// floorWindow notes the process's CPU time and the acknowledged count at the start and
// the end of the measured window.
type floorWindow struct {
	cfg   FloorConfig
	acked func() int64
	edges [2]time.Time
	e     [2]floorEdge
	next  int
}

type floorEdge struct {
	at    time.Time
	cpu   time.Duration
	acked int64
}

func newFloorWindow(cfg FloorConfig, acked func() int64) *floorWindow {
	began := time.Now()
	return &floorWindow{cfg: cfg, acked: acked, edges: [2]time.Time{began.Add(cfg.Warmup), began.Add(cfg.Warmup + cfg.Duration)}}
}

// tick records an edge when one is due and says whether to go on publishing.
func (w *floorWindow) tick() bool {
	if t := time.Now(); w.next < 2 && !t.Before(w.edges[w.next]) {
		w.e[w.next] = floorEdge{at: t, cpu: SelfCPU(), acked: w.acked()}
		w.next++
	}
	return w.next < 2
}

func (w *floorWindow) result(ctx context.Context, failed int64) (*FloorResult, error) {
	res := &FloorResult{Kind: "floor", Labels: w.cfg.Labels, Errors: failed}
	if w.next < 2 {
		return res, ctx.Err()
	}
	window := w.e[1].at.Sub(w.e[0].at)
	res.Window = window.Seconds()
	res.Acked = w.e[1].acked - w.e[0].acked
	if window > 0 {
		res.Throughput = float64(res.Acked) / window.Seconds()
	}
	if res.Acked > 0 {
		res.CPUPerMsg = micros(w.e[1].cpu-w.e[0].cpu) / float64(res.Acked)
	}
	return res, nil
}
