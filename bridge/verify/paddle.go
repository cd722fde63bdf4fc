package verify

import (
	"crypto/sha256"
	"time"
)

// Paddle Billing's request header: "ts=<unix>;h1=<hex>[;h1=<hex>…]".
const paddleSig = "Paddle-Signature"

const (
	paddleScheme          = "paddle"
	paddleNotificationKey = "notification_id" // top-level key of the delivery id, "ntf_…"
	paddleEventIDKey      = "event_id"        // top-level key of the event id, "evt_…"
	paddleTypeKey         = "event_type"      // top-level key of the event type
)

// paddleOptions are the options the paddle scheme uses.
var paddleOptions = []string{"secrets", "tolerance"}

// paddleHeader reads Paddle-Signature, which has Stripe's shape; the signed bytes are
// "<ts>:<body>".
var paddleHeader = newStripeStyle(paddleSig, ";", "ts", "h1", ":")

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newPaddle(o) }, paddleScheme)
}

// paddle verifies Paddle Billing notifications: Paddle-Signature holds the Unix time ts and
// one or more h1 elements, each the hex HMAC-SHA256 of "<ts>:<body>" under the
// notification destination's secret key ("pdl_ntfset_…", used as it is).
type paddle struct {
	keys      *keyring
	tolerance time.Duration
}

var _ Verifier = (*paddle)(nil)

// newPaddle uses the options secrets and tolerance and refuses any other.
func newPaddle(o Options) (*paddle, error) {
	if err := onlyOptions(paddleScheme, &o, paddleOptions...); err != nil {
		return nil, err
	}
	tol, err := toleranceOption(&o, DefaultTolerance)
	if err != nil {
		return nil, err
	}
	k, err := newKeyring(o.Secrets, sha256.New)
	if err != nil {
		return nil, err
	}
	return &paddle{keys: k, tolerance: tol}, nil
}

// Scheme returns "paddle".
func (p *paddle) Scheme() string { return paddleScheme }

// Verify checks Paddle-Signature against every secret before it reads the body: one of its
// h1 elements must be the hex HMAC-SHA256 of the timestamp ts, a colon and the raw body. h1
// elements that are not 64 hex digits are ignored, so are elements of other keys. The
// timestamp must then lie within the tolerance of the request's clock, in the past or the
// future.
//
// The delivery id is the body's top-level "notification_id" ("ntf_…", one per event and
// destination, kept across Paddle's retries), else (absent, empty or not a string) its
// "event_id". The event is its "event_type", e.g. "transaction.completed". Either is ""
// when the body does not carry it as a string.
//
// Errors: ErrMissingSignature (no Paddle-Signature), ErrInvalidSignature (an element that
// is not key=value, no or several ts, ts not a Unix time, no usable h1, or no secret
// matches), ErrStaleTimestamp (genuine, but ts outside the tolerance).
func (p *paddle) Verify(r *Request) (Result, error) {
	if err := paddleHeader.verify(r, p.keys, p.tolerance); err != nil {
		return Result{}, err
	}
	raw, _ := jsonField(r.Body, paddleNotificationKey)
	id, _ := jsonText(raw)
	if len(id) == 0 {
		raw, _ = jsonField(r.Body, paddleEventIDKey)
		id, _ = jsonText(raw)
	}
	raw, _ = jsonField(r.Body, paddleTypeKey)
	typ, _ := jsonText(raw)
	both := string(id) + string(typ) // one allocation for the two
	return Result{DeliveryID: both[:len(id)], Event: both[len(id):]}, nil
}
