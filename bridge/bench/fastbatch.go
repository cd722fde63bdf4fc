package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fastBatchFloor is Floor with JetStream fast batch publishing: batches of cfg.FastBatch
// messages, the reply subject of each naming the batch, its sequence in it and the
// operation (start, append, commit), cfg.InFlight messages outstanding. The server
// answers a committed batch with one PubAck counting what it stored, and the first
// message of a longer batch with a flow-control message.
func fastBatchFloor(ctx context.Context, cfg FloorConfig, nc *nats.Conn) (*FloorResult, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bench: jetstream: %w", err)
	}
	sc := subjects.Streams(subjects.StreamOptions{})[0]
	sc.AllowBatchPublish = true
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = js.CreateOrUpdateStream(cctx, sc)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: stream: %w", err)
	}
	size := cfg.FastBatch
	slots := make(chan struct{}, cfg.InFlight)
	var acked, failed atomic.Int64
	prefix := nc.NewInbox()
	sub, err := nc.Subscribe(prefix+".>", func(m *nats.Msg) {
		var a struct {
			Stream string          `json:"stream"`
			Count  int64           `json:"count"`
			Type   string          `json:"type"`
			Error  json.RawMessage `json:"error"`
		}
		if json.Unmarshal(m.Data, &a) != nil || a.Type == "ack" {
			return // flow control: the batch goes on
		}
		if a.Type == "" { // the PubAck that ends a batch, or its refusal
			stored := a.Count
			if a.Error != nil || a.Stream == "" {
				stored = 0
			} else if size == 1 {
				stored = 1
			}
			acked.Add(stored)
			failed.Add(int64(size) - stored)
			for range size {
				<-slots
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bench: subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	msgs, err := newFloorMessages(cfg.BodySize)
	if err != nil {
		return nil, err
	}
	w := newFloorWindow(cfg, acked.Load)
	var reply []byte
	for batch := 0; ctx.Err() == nil && w.tick(); batch++ {
		id := strconv.Itoa(batch)
		for seq := 1; seq <= size; seq++ {
			op := 1 // append
			switch {
			case seq == size:
				op = 2 // commit
			case seq == 1:
				op = 0 // start
			}
			// <prefix>.<batch id>.<initial flow>.<gap mode>.<batch seq>.<operation>.$FI
			reply = append(append(reply[:0], prefix...), '.')
			reply = append(append(reply, id...), ".500.fail."...)
			reply = strconv.AppendInt(append(strconv.AppendInt(reply, int64(seq), 10), '.'), int64(op), 10)
			reply = append(reply, ".$FI"...)
			m := msgs.next()
			m.Reply = string(reply)
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return w.result(ctx, failed.Load())
			}
			if err := nc.PublishMsg(m); err != nil {
				failed.Add(1)
			}
		}
	}
	for i := 0; i < 3000 && len(slots) > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return w.result(ctx, failed.Load())
}
