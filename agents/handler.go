package agents

import "context"

// Handler reacts to one event.
//
// Ack rule: returning nil acknowledges the event; returning an error (or panicking) has it
// redelivered after a backoff. The same event may be handled more than once (after an error,
// a crash or a lost acknowledgement); events emitted through Event.Emit are de-duplicated by
// their derived ids, other side effects must be idempotent.
//
// ctx is cancelled when the agent is stopped hard (its StopTimeout passed after a stop).
type Handler interface {
	Handle(ctx context.Context, ev *Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev *Event) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, ev *Event) error { return f(ctx, ev) }

var _ Handler = HandlerFunc(nil)
