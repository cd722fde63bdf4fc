package verify

import (
	"errors"
	"fmt"
)

// Request-time errors: the HTTP layer answers the first three with 401 and ErrMalformed with
// 400, and shows the caller nothing beyond the class.
var (
	// ErrMissingSignature: the request carries no signature where the scheme needs one.
	ErrMissingSignature = errors.New("missing signature")
	// ErrInvalidSignature: a signature is present but none of the configured secrets made it
	// (including undecodable signatures and wrong prefixes).
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrStaleTimestamp: the signed timestamp lies outside the tolerance, in the past or the
	// future.
	ErrStaleTimestamp = errors.New("timestamp outside tolerance")
	// ErrMalformed: the signature is genuine but the request lacks something the scheme
	// needs to route it (e.g. GitHub's X-GitHub-Event).
	ErrMalformed = errors.New("malformed request")
)

// Configuration errors, returned by New.
var (
	// ErrUnknownScheme: the verify name is not a known scheme.
	ErrUnknownScheme = errors.New("unknown scheme")
	// ErrNoSecret: the scheme needs at least one secret and a secret may not be empty.
	ErrNoSecret = errors.New("no usable secret")
	// ErrInvalidOption: an option has a value the scheme does not accept.
	ErrInvalidOption = errors.New("invalid value")
)

// FieldError is a configuration error of one option of a source. Field is the option's
// config key ("verify", "secrets", "header", "encoding", "algorithm", …), so the config
// loader can point at its line. It unwraps to the sentinel.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, sentinel error, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}
