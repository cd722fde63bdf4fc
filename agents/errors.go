package agents

import "errors"

var (
	// ErrConfig is wrapped by every error Config.Validate returns.
	ErrConfig = errors.New("agents: invalid config")
	// ErrPanic is wrapped by the error that stands for a handler's panic.
	ErrPanic = errors.New("agents: handler panicked")
)
