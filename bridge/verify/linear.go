package verify

import (
	"crypto/sha256"
	"time"
)

// Linear's request headers.
const (
	linearSig      = "Linear-Signature" // hex HMAC-SHA256 of the body
	linearDelivery = "Linear-Delivery"  // the delivery id
	linearEvent    = "Linear-Event"     // the entity type, e.g. "Issue"
)

const (
	linearScheme       = "linear"
	linearTimestampKey = "webhookTimestamp" // top-level key of the signed send time, Unix milliseconds
	linearTypeKey      = "type"             // top-level key of the entity type
	linearActionKey    = "action"           // top-level key of the action: "create", "update", "remove"

	// linearMaxDigits bounds the digits of a timestamp, so that it fits an int64.
	linearMaxDigits = 18
)

// linearOptions are the options the linear scheme uses.
var linearOptions = []string{"secrets", "tolerance"}

// Rejections, built once (see reqErr).
var (
	errLinearNoSig     = reqErr(ErrMissingSignature, "no "+linearSig+" header")
	errLinearEncoding  = reqErr(ErrInvalidSignature, linearSig+" is not 64 hex digits")
	errLinearMismatch  = reqErr(ErrInvalidSignature, "no configured secret produces the signature")
	errLinearTimestamp = reqErr(ErrMalformed, "the body has no "+linearTimestampKey+" in Unix milliseconds")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newLinear(o) }, linearScheme)
}

// linear verifies Linear webhooks: Linear-Signature holds the hex HMAC-SHA256 of the raw body
// under the webhook's signing secret, and the body carries the signed send time.
type linear struct {
	keys      *keyring
	tolerance time.Duration
}

var _ Verifier = (*linear)(nil)

// newLinear uses the options secrets and tolerance and refuses any other.
func newLinear(o Options) (*linear, error) {
	if err := onlyOptions(linearScheme, &o, linearOptions...); err != nil {
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
	return &linear{keys: k, tolerance: tol}, nil
}

// Scheme returns "linear".
func (l *linear) Scheme() string { return linearScheme }

// Verify checks Linear-Signature against every secret before it reads the body: it must be
// the hex HMAC-SHA256 (either case) of the raw body. Only then is the body read: its
// top-level webhookTimestamp, the send time in Unix milliseconds (covered by the signature,
// as the whole body is), must lie within the tolerance of the request's clock, in the past
// or the future.
//
// The delivery id is Linear-Delivery. The event is Linear-Event (else the body's top-level
// "type"), then a dot and the body's "action" when there is one: "Issue.create",
// "Comment.update" (the action alone without a type). Linear's capitals are kept.
//
// Errors: ErrMissingSignature (no Linear-Signature), ErrInvalidSignature (not 64 hex digits,
// or no secret matches), ErrMalformed (genuine, but webhookTimestamp missing or not a whole
// number of milliseconds), ErrStaleTimestamp (genuine, but outside the tolerance). Linear's
// headers are not covered by the signature.
func (l *linear) Verify(r *Request) (Result, error) {
	sig := r.Header(linearSig)
	if sig == "" {
		return Result{}, errLinearNoSig
	}
	var buf [maxMAC]byte
	mac, ok := decodeHex(buf[:], sig)
	if !ok || len(mac) != l.keys.size {
		return Result{}, errLinearEncoding
	}
	if !l.keys.match(mac, r.Body) {
		return Result{}, errLinearMismatch
	}
	raw, _ := jsonField(r.Body, linearTimestampKey)
	ms, ok := linearMillis(raw)
	if !ok {
		return Result{}, errLinearTimestamp
	}
	if err := checkTimestamp(r.now(), time.UnixMilli(ms), l.tolerance); err != nil {
		return Result{}, err
	}
	event := r.Header(linearEvent)
	if event == "" {
		raw, _ = jsonField(r.Body, linearTypeKey)
		typ, _ := jsonText(raw)
		event = string(typ)
	}
	raw, _ = jsonField(r.Body, linearActionKey)
	if action, _ := jsonText(raw); len(action) > 0 {
		if event == "" {
			event = string(action)
		} else {
			event += "." + string(action)
		}
	}
	return Result{DeliveryID: r.Header(linearDelivery), Event: event}, nil
}

// linearMillis reads a raw JSON number that is a non-negative whole number of at most
// linearMaxDigits digits.
func linearMillis(raw []byte) (int64, bool) {
	if len(raw) == 0 || len(raw) > linearMaxDigits {
		return 0, false
	}
	var n int64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
