package verify

import (
	"errors"
	"fmt"
)

// Request-time errors, returned (wrapped) by Verifier.Verify. The HTTP layer answers the
// first three with 401 and ErrMalformed with 400, and shows the caller nothing beyond the
// class; the wrapped detail is for the operator's log and never holds a secret or a
// computed signature.
var (
	// ErrMissingSignature: the request carries no signature where the scheme needs one.
	ErrMissingSignature = errors.New("missing signature")
	// ErrInvalidSignature: a signature is present but no configured secret produces it.
	// Signatures that do not decode, have the wrong length or lack the required prefix are
	// invalid too.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrStaleTimestamp: the signed timestamp lies outside the tolerance, in the past or
	// the future. Only returned for requests whose signature is genuine.
	ErrStaleTimestamp = errors.New("timestamp outside tolerance")
	// ErrMalformed: the request lacks something the scheme needs that is not the signature
	// itself, e.g. GitHub's X-GitHub-Event or an unparseable timestamp header.
	ErrMalformed = errors.New("malformed request")
)

// Configuration errors, returned by New inside a *FieldError.
var (
	// ErrUnknownScheme: the verify name is not a known scheme.
	ErrUnknownScheme = errors.New("unknown scheme")
	// ErrNoSecret: the scheme needs at least one secret, and no secret may be empty.
	ErrNoSecret = errors.New("no usable secret")
	// ErrInvalidOption: an option is missing, has a value the scheme does not accept, or is
	// set although the scheme does not use it.
	ErrInvalidOption = errors.New("invalid value")
)

// FieldError is a configuration error of one option of a source, returned by New. Field is
// the option's config key under the source ("verify", "secrets", "header", "prefix",
// "encoding", "algorithm", …), so that the config loader can point at its line; Err wraps
// one of ErrUnknownScheme, ErrNoSecret or ErrInvalidOption. The text never holds a secret.
type FieldError struct {
	Field string
	Err   error
}

// Error reads "field: reason", e.g. `header: invalid value: required for scheme "hmac-sha256"`.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns Err, so errors.Is(err, ErrNoSecret) and the like match.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr builds a *FieldError whose Err wraps sentinel, followed by the formatted reason.
// Callers quote offending values with %q and never pass a secret.
func fieldErr(field string, sentinel error, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

// reqErr is a request-time error with a fixed detail: built once, so that rejecting a
// request (the path a flood of forged requests takes) allocates nothing.
func reqErr(sentinel error, detail string) error {
	return fmt.Errorf("%w: %s", sentinel, detail)
}
