package relay

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid is wrapped by every problem Load, Parse and Config.Validate report about a
	// config's content. A file that cannot be read at all is reported by Load as the os
	// error instead.
	ErrInvalid = errors.New("relay: invalid config")
	// ErrRefused is wrapped by the error of a delivery whose destination address the SSRF
	// guard refuses (loopback, private, link-local, metadata, … without an allowance). Such
	// a delivery is dead-lettered at once, never retried.
	ErrRefused = errors.New("relay: destination address refused")
	// ErrSecret is wrapped by ParseSecret's errors: a signing secret that is not "whsec_"
	// followed by the base64 of 24 to 64 bytes.
	ErrSecret = errors.New("relay: invalid signing secret")
	// ErrHeld is wrapped by the error of an attempt that was not sent because the endpoint
	// asked to wait (Retry-After) or its circuit breaker is open, for longer than MaxHold.
	// The event is retried like after a failed attempt.
	ErrHeld = errors.New("relay: endpoint on hold")
	// ErrDisabled is wrapped by the error of an event not sent because its endpoint is
	// disabled (it answered 410 Gone). The event stays in the endpoint's consumer until the
	// endpoint is enabled again.
	ErrDisabled = errors.New("relay: endpoint disabled")
)

// Error is one problem in a config: where it is, which key, and what is wrong. Load and
// Parse return every problem found as an *Error, joined with errors.Join in document order.
// The text never holds a secret or a header value.
type Error struct {
	// File is the name the config was read under ("" from Config.Validate).
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Key is the dotted path of the offending key, e.g. "endpoints.crm.timeout" or
	// "endpoints.crm.secrets[0]"; "" for problems of the file as a whole.
	Key string
	// Msg says what is wrong, quoting the offending value unless it may be a secret.
	Msg string
}

// Error reads "file:line:column: key: message", leaving out the parts that are unknown.
func (e *Error) Error() string {
	var s string
	switch {
	case e.Line > 0 && e.Column > 0:
		s = fmt.Sprintf("%s:%d:%d: ", e.File, e.Line, e.Column)
	case e.Line > 0:
		s = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	case e.File != "":
		s = e.File + ": "
	}
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Msg
}

// Unwrap returns ErrInvalid, so that errors.Is(err, ErrInvalid) holds.
func (e *Error) Unwrap() error { return ErrInvalid }
