package sign

import "errors"

var (
	// ErrUnsupported is returned by New for a scheme that verify knows but this package
	// cannot sign yet.
	ErrUnsupported = errors.New("sign: scheme not supported")
	// ErrOptions is returned by New when the source's options are unusable (the verifier
	// refuses them, or there is no secret to sign with).
	ErrOptions = errors.New("sign: unusable options")
	// ErrEvent is returned when the event type cannot be expressed in the request the scheme
	// sends, e.g. a GitHub event whose action contradicts the payload's own "action".
	ErrEvent = errors.New("sign: event does not fit the payload")
)
