package bridge

import (
	"errors"
	"time"

	"github.com/hookbus/hookbus/bridge/verify"
	"github.com/valyala/fasthttp"
)

var (
	// ErrUnknownSource is the rejection of a request for a source that is not configured or is
	// disabled.
	ErrUnknownSource = errors.New("unknown source")
	// ErrMethod is the rejection of a request whose method is not POST.
	ErrMethod = errors.New("method not allowed")
	// ErrTooLarge is the rejection of a body over the source's limit.
	ErrTooLarge = errors.New("body too large")
	// ErrUnavailable means the event could not be stored: JetStream did not acknowledge the
	// write (connection down, no stream leader, timeout).
	ErrUnavailable = errors.New("event store unavailable")
	// ErrBadRequest is the rejection of a request that cannot be read.
	ErrBadRequest = errors.New("bad request")
	// ErrRateLimited is the rejection of a request over its client's or source's rate.
	ErrRateLimited = errors.New("rate limited")
)

// rateLimitError is an ErrRateLimited with the wait until a request would be taken.
type rateLimitError struct{ wait time.Duration }

func (e rateLimitError) Error() string { return "rate limited" }
func (e rateLimitError) Unwrap() error { return ErrRateLimited }

// retryAfter is the Retry-After value, in seconds, sent with 503.
const retryAfter = "5"

// rejection is how one error class is answered and logged: the HTTP status and the reason
// class, the only detail a caller ever sees.
type rejection struct {
	status int
	reason string
}

// classify maps an error of the request path to its answer. It is the one place where
// errors become HTTP statuses.
func classify(err error) rejection {
	switch {
	case errors.Is(err, verify.ErrMissingSignature):
		return rejection{fasthttp.StatusUnauthorized, "missing signature"}
	case errors.Is(err, verify.ErrStaleTimestamp):
		return rejection{fasthttp.StatusUnauthorized, "stale timestamp"}
	case errors.Is(err, verify.ErrInvalidSignature):
		return rejection{fasthttp.StatusUnauthorized, "invalid signature"}
	case errors.Is(err, verify.ErrMalformed), errors.Is(err, ErrBadRequest):
		return rejection{fasthttp.StatusBadRequest, "malformed request"}
	case errors.Is(err, ErrUnknownSource):
		return rejection{fasthttp.StatusNotFound, "unknown source"}
	case errors.Is(err, ErrMethod):
		return rejection{fasthttp.StatusMethodNotAllowed, "method not allowed"}
	case errors.Is(err, ErrTooLarge):
		return rejection{fasthttp.StatusRequestEntityTooLarge, "body too large"}
	case errors.Is(err, ErrRateLimited):
		return rejection{fasthttp.StatusTooManyRequests, "rate limited"}
	case errors.Is(err, ErrUnavailable):
		return rejection{fasthttp.StatusServiceUnavailable, "unavailable"}
	}
	return rejection{fasthttp.StatusInternalServerError, "internal error"}
}
