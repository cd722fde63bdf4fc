package agents

import "errors"

var (
	// ErrConfig is wrapped by every error Config.Validate returns.
	ErrConfig = errors.New("agents: invalid config")
	// ErrPanic is wrapped by the error that stands for a handler's panic.
	ErrPanic = errors.New("agents: handler panicked")
)

var (
	// ErrPermanent marks an error that retrying cannot fix; see Permanent.
	ErrPermanent = errors.New("permanent error")
	// ErrHopLimit is returned by Emit when the event would exceed the agent's MaxHops: a
	// chain of agents triggering each other is cut there and the event dead-lettered.
	ErrHopLimit = errors.New("agents: hop limit reached")
)

// permanent wraps an error that must not be retried.
type permanent struct{ err error }

func (p permanent) Error() string   { return p.err.Error() }
func (p permanent) Unwrap() []error { return []error{p.err, ErrPermanent} }

// Permanent marks err as permanent: a handler that returns it has its event dead-lettered at
// once instead of retried. errors.Is(Permanent(err), ErrPermanent) holds, and so does
// errors.Is(Permanent(err), err). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}
