package bridge

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// Horizon remembers stored deliveries for longer than the stream's duplicate window.
//
// The ingress asks Seen before it publishes, and calls Mark only after JetStream
// acknowledged a new event, so a publish that failed never marks its id: the provider's
// retry is stored. Concurrent copies of one delivery are made atomic by the stream's
// Nats-Msg-Id window, which the horizon only extends.
type Horizon interface {
	// Seen returns the stream sequence of the event stored under key, and whether there is one.
	Seen(ctx context.Context, key string) (seq uint64, ok bool, err error)
	// Mark records that key was stored at seq, for ttl.
	Mark(ctx context.Context, key string, seq uint64, ttl time.Duration) error
}

// KVHorizon is a Horizon in the JetStream KV bucket subjects.BucketDedupe, shared by every
// bridge on the same NATS, with one TTL per key.
type KVHorizon struct{ kv jetstream.KeyValue }

var _ Horizon = (*KVHorizon)(nil)

// NewKVHorizon binds the bucket (EnsureStreams creates it).
func NewKVHorizon(ctx context.Context, js jetstream.JetStream) (*KVHorizon, error) {
	kv, err := js.KeyValue(ctx, subjects.BucketDedupe)
	if err != nil {
		return nil, err
	}
	return &KVHorizon{kv: kv}, nil
}

// Seen implements Horizon.
func (h *KVHorizon) Seen(ctx context.Context, key string) (uint64, bool, error) {
	e, err := h.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	seq, _ := strconv.ParseUint(string(e.Value()), 10, 64)
	return seq, true, nil
}

// Mark implements Horizon. A key that exists already (another bridge stored the same
// delivery at the same moment) is not an error.
func (h *KVHorizon) Mark(ctx context.Context, key string, seq uint64, ttl time.Duration) error {
	_, err := h.kv.Create(ctx, key, strconv.AppendUint(nil, seq, 10), jetstream.KeyTTL(ttl))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil
	}
	return err
}
