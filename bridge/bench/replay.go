package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReplayConfig describes reading a stream from its start with an ordered consumer, as a
// replay or a new agent catching up does.
type ReplayConfig struct {
	NATS   string
	Stream string // WEBHOOKS when empty
	Filter string // subject filter; every message when empty
	// PID is the NATS server's process; 0 for none.
	PID     int
	Timeout time.Duration // 5m when zero
	Labels  map[string]string
}

// ReplayResult is the replay's rate.
type ReplayResult struct {
	Kind       string            `json:"kind"` // "replay"
	Labels     map[string]string `json:"labels,omitempty"`
	Messages   int64             `json:"messages"`
	Bytes      int64             `json:"bytes"` // bodies
	Seconds    float64           `json:"seconds"`
	Throughput float64           `json:"messages_per_s"`
	ServerCPU  float64           `json:"server_cpu_per_msg_us,omitempty"`
	ClientCPU  float64           `json:"client_cpu_per_msg_us"`
}

// Replay reads every message stored when it starts (under the filter) and reports the
// rate.
func Replay(ctx context.Context, cfg ReplayConfig) (*ReplayResult, error) {
	if cfg.Stream == "" {
		cfg.Stream = subjects.StreamWebhooks
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	nc, err := nats.Connect(cfg.NATS, nats.Name("hookbus-bench-replay"))
	if err != nil {
		return nil, fmt.Errorf("bench: connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bench: jetstream: %w", err)
	}
	var before ProcSample
	if cfg.PID > 0 {
		if before, err = ReadProc(cfg.PID); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res := &ReplayResult{Kind: "replay", Labels: cfg.Labels}
	self := SelfCPU()
	began := time.Now()
	n, err := scanStream(ctx, js, cfg.Stream, cfg.Filter, 0, false, 5*time.Second, func(m jetstream.Msg) {
		res.Bytes += int64(len(m.Data()))
	})
	took := time.Since(began)
	res.Messages, res.Seconds = n, took.Seconds()
	if err != nil {
		return res, err
	}
	if n > 0 {
		res.Throughput = float64(n) / took.Seconds()
		res.ClientCPU = micros(SelfCPU()-self) / float64(n)
		if cfg.PID > 0 {
			after, err := ReadProc(cfg.PID)
			if err != nil {
				return res, err
			}
			res.ServerCPU = micros(after.CPU-before.CPU) / float64(n)
		}
	}
	return res, nil
}
