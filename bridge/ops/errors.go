package ops

import (
	"errors"
	"fmt"
	"time"

	"github.com/hookbus/hookbus/subjects"
)

var (
	// ErrInvalid is wrapped by every error about an unusable argument: a bad name, filter,
	// duration, time or sequence, an inverted or open range, options that exclude each
	// other. Nothing has been changed when it is returned. The CLI exits with status 2.
	ErrInvalid = errors.New("invalid argument")

	// ErrUnknownAgent is returned when no hookbus stream has a durable consumer of the
	// agent's name.
	ErrUnknownAgent = errors.New("unknown agent")

	// ErrUnacked is returned by Rewind when the agent has not yet acknowledged every event
	// before the point it would be moved to: moving it there would drop them.
	ErrUnacked = errors.New("agent has unacknowledged events before the rewind point")

	// ErrNoReplaySubject is returned when events are to be sent to one agent only, and that
	// agent's consumer does not read its replay subject (ReplayFilter): an agent on another
	// client than the agent SDK, which reads it by itself, or one that has not run on a
	// current SDK yet.
	ErrNoReplaySubject = errors.New("agent does not consume its replay subject")

	// ErrNotFound is returned for a dead letter sequence that the DLQ stream does not hold.
	ErrNotFound = errors.New("not found")

	// ErrTooRecent is returned by Redrive for a dead letter stored less than the DLQ
	// stream's duplicate window ago: if the agent failed again inside that window, its new
	// dead letter could carry the same id and be dropped as a duplicate. The error is a
	// *TooRecentError, which says when the redrive becomes safe.
	ErrTooRecent = errors.New("dead letter too recent to redrive safely")

	// ErrInterrupted is returned, wrapping the context's error, when a long operation was
	// stopped before it finished; its result says how far it got.
	ErrInterrupted = errors.New("interrupted")

	// ErrNoStreams is returned when the NATS server has none of the hookbus streams.
	ErrNoStreams = errors.New("no hookbus streams")
)

// TooRecentError is the error Redrive returns for a dead letter younger than the DLQ
// stream's duplicate window (see ErrTooRecent, which it wraps).
type TooRecentError struct {
	Seq   uint64 // the dead letter's sequence in the DLQ stream
	Agent string
	// Age is how long ago the DLQ stream stored it, Window the stream's duplicate window.
	Age, Window time.Duration
	// SafeAt is when the stream forgets its id: a redrive from then on is safe.
	SafeAt time.Time
}

func (e *TooRecentError) Error() string {
	return fmt.Sprintf("%v: dead letter %d of %s was stored %s ago; the %s stream remembers its id for %s, so if the agent failed again before %s its new dead letter would be dropped as a duplicate and the event lost. Redrive after that, or pass --force",
		ErrTooRecent, e.Seq, e.Agent, e.Age.Round(time.Second), subjects.StreamDLQ, e.Window, e.SafeAt.Local().Format(time.TimeOnly))
}

func (e *TooRecentError) Unwrap() error { return ErrTooRecent }
