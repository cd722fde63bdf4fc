package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"time"
)

// Stripe's request header: "t=<unix>,v1=<hex>[,v1=<hex>…][,v0=<hex>]".
const stripeSig = "Stripe-Signature"

const (
	stripeScheme  = "stripe"
	stripeIDKey   = "id"   // top-level key of the event id, "evt_…"
	stripeTypeKey = "type" // top-level key of the event type, "invoice.paid"
)

// stripeOptions are the options the stripe scheme uses.
var stripeOptions = []string{"secrets", "tolerance"}

// stripeHeader reads Stripe-Signature; the signed bytes are "<t>.<body>".
var stripeHeader = newStripeStyle(stripeSig, ",", "t", "v1", ".")

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newStripe(o) }, stripeScheme)
}

// stripe verifies Stripe deliveries: Stripe-Signature holds the Unix time t and one or more
// v1 elements, each the hex HMAC-SHA256 of "<t>.<body>" under the endpoint's signing
// secret ("whsec_…", used as it is, not decoded).
type stripe struct {
	keys      *keyring
	tolerance time.Duration
}

var _ Verifier = (*stripe)(nil)

// newStripe uses the options secrets and tolerance and refuses any other.
func newStripe(o Options) (*stripe, error) {
	if err := onlyOptions(stripeScheme, &o, stripeOptions...); err != nil {
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
	return &stripe{keys: k, tolerance: tol}, nil
}

// Scheme returns "stripe".
func (s *stripe) Scheme() string { return stripeScheme }

// Verify checks Stripe-Signature against every secret before it reads the body: one of its
// v1 elements must be the hex HMAC-SHA256 of the timestamp t, a dot and the raw body. Stripe
// sends several v1 elements while the endpoint's secret is being rolled; one match is
// enough. v0 elements (an older scheme) and v1 elements that are not 64 hex digits are
// ignored. The timestamp must then lie within the tolerance of the request's clock, in the
// past or the future.
//
// The delivery id is the event's top-level "id" ("evt_…"), the dedupe key across Stripe's
// retries; the event is its top-level "type", e.g. "invoice.paid". Either is "" when the
// body does not carry it as a string.
//
// Errors: ErrMissingSignature (no Stripe-Signature), ErrInvalidSignature (an element that
// is not key=value, no or several t, t not a Unix time, no usable v1, or no secret
// matches), ErrStaleTimestamp (genuine, but t outside the tolerance).
func (s *stripe) Verify(r *Request) (Result, error) {
	if err := stripeHeader.verify(r, s.keys, s.tolerance); err != nil {
		return Result{}, err
	}
	raw, _ := jsonField(r.Body, stripeIDKey)
	id, _ := jsonText(raw)
	raw, _ = jsonField(r.Body, stripeTypeKey)
	typ, _ := jsonText(raw)
	both := string(id) + string(typ) // one allocation for the two
	return Result{DeliveryID: both[:len(id)], Event: both[len(id):]}, nil
}

// stripeStyle is the shape of signature header that Stripe introduced and Paddle Billing
// shares: key=value elements joined by a separator, one of them the Unix time of sending,
// any number of them hex HMAC-SHA256 signatures of the time, a joining text and the body.
type stripeStyle struct {
	header   string // the header's name
	sep      string // between elements: "," (Stripe) or ";" (Paddle)
	stampKey string // key of the timestamp element: "t" or "ts"
	sigKey   string // key of each current signature element: "v1" or "h1"
	join     string // signed between the timestamp and the body: "." or ":"

	errMissing, errMalformed, errNoSig, errMismatch error // built once (see reqErr)
}

// newStripeStyle describes a header of the Stripe shape.
func newStripeStyle(header, sep, stampKey, sigKey, join string) *stripeStyle {
	return &stripeStyle{
		header: header, sep: sep, stampKey: stampKey, sigKey: sigKey, join: join,
		errMissing:   reqErr(ErrMissingSignature, "no "+header+" header"),
		errMalformed: reqErr(ErrInvalidSignature, header+" is not "+stampKey+"=<unix time>"+sep+sigKey+"=<hex>…"),
		errNoSig:     reqErr(ErrInvalidSignature, header+" holds no "+sigKey+" signature of 64 hex digits"),
		errMismatch:  reqErr(ErrInvalidSignature, "no configured secret produces any "+sigKey+" signature"),
	}
}

// verify checks the request's header against every key of keys, then its timestamp against
// the tolerance tol (0: DefaultTolerance). It returns nil for a genuine, timely request.
func (s *stripeStyle) verify(r *Request, keys *keyring, tol time.Duration) error {
	h := r.Header(s.header)
	if h == "" {
		return s.errMissing
	}
	stamp, ok := s.timestamp(h)
	if !ok {
		return s.errMalformed
	}
	ts, ok := parseUnix(stamp)
	if !ok {
		return s.errMalformed
	}
	if !s.match(h, keys.size, nil) { // nothing decodes: spare the MACs
		return s.errNoSig
	}
	sb := getSignBuf()
	defer putSignBuf(sb)
	sb.b = append(append(sb.b, stamp...), s.join...)
	match := func(mac []byte) bool { return s.match(h, keys.size, mac) }
	if !keys.each(match, sb.b, r.Body) {
		return s.errMismatch
	}
	return checkTimestamp(r.now(), ts, tol)
}

// timestamp returns the value of the single timestamp element of the header value h; ok is
// false when an element is not key=value or there is not exactly one timestamp. Spaces and
// tabs around an element and empty elements are ignored.
func (s *stripeStyle) timestamp(h string) (stamp string, ok bool) {
	found := false
	for rest := h; rest != ""; {
		var el string
		el, rest, _ = strings.Cut(rest, s.sep)
		if el = strings.Trim(el, " \t"); el == "" {
			continue
		}
		k, v, isKV := strings.Cut(el, "=")
		if !isKV {
			return "", false
		}
		if k == s.stampKey {
			if found {
				return "", false
			}
			stamp, found = v, true
		}
	}
	return stamp, found
}

// match reports whether a signature element of the header value h decodes to mac (compared
// in constant time); with mac nil, whether any decodes to size bytes. Elements of other keys,
// and signature elements that are not hex of size bytes, are skipped.
func (s *stripeStyle) match(h string, size int, mac []byte) bool {
	var buf [maxMAC]byte
	for rest := h; rest != ""; {
		var el string
		el, rest, _ = strings.Cut(rest, s.sep)
		k, v, _ := strings.Cut(strings.Trim(el, " \t"), "=")
		if k != s.sigKey {
			continue
		}
		sig, ok := decodeHex(buf[:], v)
		if !ok || len(sig) != size {
			continue
		}
		if mac == nil || hmac.Equal(sig, mac) {
			return true
		}
	}
	return false
}
