package agents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
)

// doneStore opens the done-record bucket on first use.
type doneStore struct {
	once sync.Once
	kv   jetstream.KeyValue
	err  error
}

func (a *Agent) doneKV(ctx context.Context) (jetstream.KeyValue, error) {
	a.done.once.Do(func() {
		a.done.kv, a.done.err = bindOrCreate(ctx, a.js, subjects.DoneBucket(subjects.StreamOptions{}, a.cfg.DoneTTL))
	})
	if a.done.err != nil {
		return nil, fmt.Errorf("agents: done records: %w", a.done.err)
	}
	return a.done.kv, nil
}

// Once runs fn, a side effect of handling ev named step, unless a done record says it
// already ran to success for this event: after a crash between the side effect and the
// acknowledgement, the redelivered event skips it. The record is written after fn returns
// nil and kept for the agent's DoneTTL. ran reports whether fn ran now.
//
// Once narrows the window for a repeated side effect to a crash between fn's return and
// the record's write; a side effect that must never repeat should also pass ev.ID to the
// service it calls as an idempotency key. Once returns fn's error, or an error when the
// record cannot be read or written (the handler should return it, to be retried).
func (ev *Event) Once(ctx context.Context, step string, fn func(context.Context) error) (ran bool, err error) {
	a := ev.agent
	if a == nil {
		return false, fmt.Errorf("%w: Once on an event not handed out by an agent", ErrConfig)
	}
	kv, err := a.doneKV(ctx)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256([]byte(ev.ID + "\x00" + step))
	key := a.name + "." + hex.EncodeToString(sum[:16])
	if _, err := kv.Get(ctx, key); err == nil {
		return false, nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, fmt.Errorf("agents: done record %s: %w", step, err)
	}
	if err := fn(ctx); err != nil {
		return true, err
	}
	if _, err := kv.Put(ctx, key, []byte(ev.ID)); err != nil {
		return true, fmt.Errorf("agents: done record %s not written: %w", step, err)
	}
	return true, nil
}

// bindOrCreate binds the bucket the bridge created at start, or creates it when missing (an
// agent on a NATS without a bridge, as in tests). Binding first matters: an agent confined by
// permissions may not create buckets.
func bindOrCreate(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return js.CreateKeyValue(ctx, cfg)
	}
	return kv, err
}
