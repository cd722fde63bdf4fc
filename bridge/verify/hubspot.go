package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"strconv"
	"strings"
	"time"
)

// HubSpot's request headers.
const (
	hubSpotSigV3     = "X-HubSpot-Signature-v3"      // base64 HMAC-SHA256 of method, URI, body and timestamp
	hubSpotTimestamp = "X-HubSpot-Request-Timestamp" // Unix time in milliseconds, signed by v3
	hubSpotSig       = "X-HubSpot-Signature"         // legacy: hex SHA-256 of the secret and the request
	hubSpotVersion   = "X-HubSpot-Signature-Version" // legacy: "v1" or "v2"
)

const (
	hubSpotScheme   = "hubspot"
	hubSpotEventKey = "subscriptionType" // key of each event's type in a webhook batch
)

// hubSpotOptions are the options the hubspot scheme uses.
var hubSpotOptions = []string{"secrets", "tolerance", "allow_legacy", "public_url"}

// Rejections, built once (see reqErr).
var (
	errHubSpotNoSig       = reqErr(ErrMissingSignature, "no "+hubSpotSigV3+" header")
	errHubSpotNoSigs      = reqErr(ErrMissingSignature, "neither "+hubSpotSigV3+" nor "+hubSpotSig+" header")
	errHubSpotNoTimestamp = reqErr(ErrMissingSignature, "no "+hubSpotTimestamp+" header")
	errHubSpotTimestamp   = reqErr(ErrMalformed, hubSpotTimestamp+" is not a Unix time in milliseconds")
	errHubSpotEncoding    = reqErr(ErrInvalidSignature, "signature is not a base64 HMAC-SHA256")
	errHubSpotLegacyHex   = reqErr(ErrInvalidSignature, "legacy signature is not a hex SHA-256")
	errHubSpotVersion     = reqErr(ErrInvalidSignature, hubSpotVersion+" is neither v1 nor v2")
	errHubSpotMismatch    = reqErr(ErrInvalidSignature, "no configured secret produces the signature")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newHubSpot(o) }, hubSpotScheme)
}

// hubSpot verifies HubSpot requests (webhooks, CRM cards, workflow actions) by their v3
// signature: X-HubSpot-Signature-v3 holds the base64 HMAC-SHA256, under the app's client
// secret, of the method, the URI, the raw body and X-HubSpot-Request-Timestamp, in that
// order and without separators.
type hubSpot struct {
	keys      *keyring
	url       signedURL
	tolerance time.Duration
	legacy    [][]byte // the secrets, only with allow_legacy: v1 and v2 hash them plainly
}

var _ Verifier = (*hubSpot)(nil)

// newHubSpot uses the options secrets (the app's client secret; several during a
// rotation), public_url (required), tolerance and allow_legacy, and refuses any other.
func newHubSpot(o Options) (*hubSpot, error) {
	if err := onlyOptions(hubSpotScheme, &o, hubSpotOptions...); err != nil {
		return nil, err
	}
	keys, err := newKeyring(o.Secrets, sha256.New)
	if err != nil {
		return nil, err
	}
	h := &hubSpot{keys: keys}
	if h.url, err = newSignedURL(hubSpotScheme, o.PublicURL); err != nil {
		return nil, err
	}
	if h.tolerance, err = toleranceOption(&o, DefaultTolerance); err != nil {
		return nil, err
	}
	if o.AllowLegacy {
		for _, s := range o.Secrets {
			h.legacy = append(h.legacy, []byte(s))
		}
	}
	return h, nil
}

// Scheme returns "hubspot".
func (h *hubSpot) Scheme() string { return hubSpotScheme }

// Verify checks X-HubSpot-Signature-v3 against every secret before it reads the body. The
// URI is public_url followed by the query of the request, with the escapes HubSpot
// decodes before signing (%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B, either case)
// decoded; the method is the request's. The timestamp, in milliseconds, must lie within
// the tolerance (default 5 minutes, HubSpot's own limit) of the request's clock, in the
// past or the future.
//
// With allow_legacy, and only when no v3 signature is sent, X-HubSpot-Signature is checked
// as X-HubSpot-Signature-Version says: v1 is the hex SHA-256 of the secret followed by the
// body, v2 of the secret, method, URI (exactly as sent, nothing decoded) and body. Neither
// signs a time, so a recorded request stays valid for ever: the dedupe horizon is the only
// guard against its replay.
//
// The delivery id is empty, so the bridge keys the event by the digest of its body:
// HubSpot posts a batch of events, each with its own eventId, and does not promise those
// ids unique. A retry of a batch counts its attempts in the events, so it is stored as a
// new event; consumers of HubSpot events dedupe by eventId themselves. The event is the
// subscriptionType of the batch's first event, e.g. "contact.creation", or "hubspot" when
// the body is not such a batch.
//
// Errors: ErrMissingSignature (no signature or timestamp header), ErrInvalidSignature (not
// base64, wrong length, unknown legacy version, no secret matches), ErrMalformed (the
// timestamp is not a number), ErrStaleTimestamp (genuine, but outside the tolerance).
func (h *hubSpot) Verify(r *Request) (Result, error) {
	sig := r.Header(hubSpotSigV3)
	if sig == "" {
		if h.legacy != nil {
			return h.verifyLegacy(r)
		}
		return Result{}, errHubSpotNoSig
	}
	stamp := r.Header(hubSpotTimestamp)
	if stamp == "" {
		return Result{}, errHubSpotNoTimestamp
	}
	var buf [maxMAC]byte
	mac, ok := decodeBase64(buf[:], sig)
	if !ok || len(mac) != h.keys.size {
		return Result{}, errHubSpotEncoding
	}
	ts, ok := parseUnixMilli(stamp)
	if !ok {
		return Result{}, errHubSpotTimestamp
	}
	sb := getSignBuf()
	defer putSignBuf(sb)
	base, query := h.url.split(r)
	sb.b = append(sb.b, hubSpotMethod(r)...)
	sb.b = hubSpotUnescape(sb.b, base)
	sb.b = hubSpotUnescape(sb.b, query)
	head := len(sb.b)
	sb.b = append(sb.b, stamp...)
	if !h.keys.match(mac, sb.b[:head], r.Body, sb.b[head:]) {
		return Result{}, errHubSpotMismatch
	}
	if err := checkTimestamp(r.now(), ts, h.tolerance); err != nil {
		return Result{}, err
	}
	return Result{Event: hubSpotEvent(r.Body)}, nil
}

// verifyLegacy checks X-HubSpot-Signature (v1 or v2) against every secret.
func (h *hubSpot) verifyLegacy(r *Request) (Result, error) {
	sig := r.Header(hubSpotSig)
	if sig == "" {
		return Result{}, errHubSpotNoSigs
	}
	var buf [sha256.Size]byte
	want, ok := decodeHex(buf[:], sig)
	if !ok || len(want) != sha256.Size {
		return Result{}, errHubSpotLegacyHex
	}
	sb := getSignBuf()
	defer putSignBuf(sb)
	switch v := r.Header(hubSpotVersion); {
	case strings.EqualFold(v, "v1"):
	case strings.EqualFold(v, "v2"):
		base, query := h.url.split(r)
		sb.b = append(sb.b, hubSpotMethod(r)...)
		sb.b = append(sb.b, base...)
		sb.b = append(sb.b, query...)
	default:
		return Result{}, errHubSpotVersion
	}
	d := sha256.New()
	var sum [sha256.Size]byte
	for _, secret := range h.legacy {
		d.Reset()
		d.Write(secret)
		d.Write(sb.b)
		d.Write(r.Body)
		if hmac.Equal(d.Sum(sum[:0]), want) {
			return Result{Event: hubSpotEvent(r.Body)}, nil
		}
	}
	return Result{}, errHubSpotMismatch
}

// hubSpotMethod is the request's method, "POST" when the caller left it empty.
func hubSpotMethod(r *Request) string {
	if r.Method == "" {
		return "POST"
	}
	return r.Method
}

// hubSpotUnescape appends s to dst with the percent-escapes HubSpot decodes before signing
// a v3 URI decoded: those of : / ? @ ! $ ' ( ) * , ; (hex digits in either case). Every
// other escape is left as it is.
func hubSpotUnescape(dst []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 || i+2 >= len(s) {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if c := hi<<4 | lo; ok1 && ok2 && strings.IndexByte(":/?@!$'()*,;", c) >= 0 {
			dst = append(dst, c)
			s = s[i+3:]
		} else { // not one of the listed escapes: keep the %, look again after it
			dst = append(dst, '%')
			s = s[i+1:]
		}
	}
}

// parseUnixMilli reads a Unix time in whole milliseconds.
func parseUnixMilli(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// hubSpotEvent is the subscriptionType of the first event of a HubSpot batch (a JSON array
// of objects), or of the body itself when it is one object; "hubspot" when there is none.
func hubSpotEvent(body []byte) string {
	i := skipSpace(body, 0)
	if i < len(body) && body[i] == '[' {
		i = skipSpace(body, i+1)
	}
	if raw, ok := jsonField(body[min(i, len(body)):], hubSpotEventKey); ok {
		if text, ok := jsonText(raw); ok && len(text) > 0 {
			return string(text)
		}
	}
	return hubSpotScheme
}
