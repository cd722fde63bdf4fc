package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Zoom's request headers.
const (
	zoomSig       = "X-Zm-Signature"         // "v0=" + hex HMAC-SHA256 of "v0:<timestamp>:<body>"
	zoomTimestamp = "X-Zm-Request-Timestamp" // Unix time in seconds, signed
)

const (
	zoomScheme     = "zoom"
	zoomValidation = "endpoint.url_validation" // the event of Zoom's challenge-response check
)

// zoomOptions are the options the zoom scheme uses.
var zoomOptions = []string{"secrets", "tolerance"}

// Rejections, built once (see reqErr).
var (
	errZoomNoSig       = reqErr(ErrMissingSignature, "no "+zoomSig+" header")
	errZoomNoTimestamp = reqErr(ErrMissingSignature, "no "+zoomTimestamp+" header")
	errZoomTimestamp   = reqErr(ErrMalformed, zoomTimestamp+" is not a Unix time in seconds")
	errZoomPrefix      = reqErr(ErrInvalidSignature, "signature lacks its v0= prefix")
	errZoomEncoding    = reqErr(ErrInvalidSignature, "signature is not a hex HMAC-SHA256")
	errZoomMismatch    = reqErr(ErrInvalidSignature, "no configured secret produces the signature")
	errZoomNoToken     = reqErr(ErrMalformed, zoomValidation+" without payload.plainToken")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newZoom(o) }, zoomScheme)
}

// zoom verifies Zoom webhooks: x-zm-signature holds "v0=" and the hex HMAC-SHA256, under
// the app's secret token, of "v0:", x-zm-request-timestamp, ":" and the raw body.
type zoom struct {
	keys      *keyring
	tolerance time.Duration
}

var _ Verifier = (*zoom)(nil)

// newZoom uses the options secrets (the secret token; several during a rotation) and
// tolerance, and refuses any other.
func newZoom(o Options) (*zoom, error) {
	if err := onlyOptions(zoomScheme, &o, zoomOptions...); err != nil {
		return nil, err
	}
	keys, err := newKeyring(o.Secrets, sha256.New)
	if err != nil {
		return nil, err
	}
	z := &zoom{keys: keys}
	if z.tolerance, err = toleranceOption(&o, DefaultTolerance); err != nil {
		return nil, err
	}
	return z, nil
}

// Scheme returns "zoom".
func (z *zoom) Scheme() string { return zoomScheme }

// Verify checks x-zm-signature against every secret before it reads the body; the signed
// timestamp must lie within the tolerance (default 5 minutes) of the request's clock, in
// the past or the future.
//
// Zoom's challenge-response check, the event "endpoint.url_validation", is answered only
// once its signature holds: Result.Reply is a 200 with the JSON object {"plainToken": …,
// "encryptedToken": …}, the latter the hex HMAC-SHA256 of payload.plainToken under the
// secret that verified the request, and nothing is stored.
//
// The event is the body's top-level "event", e.g. "meeting.started", or "zoom" when there
// is none. The delivery id is empty, so the bridge keys the event by the digest of its
// body: Zoom sends no delivery id, and its event_ts is not unique across events.
//
// Errors: ErrMissingSignature (no signature or timestamp header), ErrInvalidSignature (no
// v0= prefix, not hex, wrong length, no secret matches), ErrMalformed (the timestamp is not
// a number; a genuine url_validation without a plainToken), ErrStaleTimestamp (genuine,
// but outside the tolerance).
func (z *zoom) Verify(r *Request) (Result, error) {
	sig := r.Header(zoomSig)
	if sig == "" {
		return Result{}, errZoomNoSig
	}
	stamp := r.Header(zoomTimestamp)
	if stamp == "" {
		return Result{}, errZoomNoTimestamp
	}
	digest, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return Result{}, errZoomPrefix
	}
	var buf [maxMAC]byte
	mac, ok := decodeHex(buf[:], digest)
	if !ok || len(mac) != z.keys.size {
		return Result{}, errZoomEncoding
	}
	ts, ok := parseUnix(stamp)
	if !ok {
		return Result{}, errZoomTimestamp
	}
	sb := getSignBuf()
	defer putSignBuf(sb)
	sb.b = append(append(append(sb.b, "v0:"...), stamp...), ':')
	secret := -1 // index of the secret that verified the request
	if !z.keys.each(func(m []byte) bool { secret++; return hmac.Equal(m, mac) }, sb.b, r.Body) {
		return Result{}, errZoomMismatch
	}
	if err := checkTimestamp(r.now(), ts, z.tolerance); err != nil {
		return Result{}, err
	}
	event := zoomScheme
	if raw, ok := jsonField(r.Body, "event"); ok {
		if text, ok := jsonText(raw); ok && len(text) > 0 {
			if string(text) == zoomValidation {
				return z.validate(r.Body, secret)
			}
			event = string(text)
		}
	}
	return Result{Event: event}, nil
}

// validate answers Zoom's challenge-response check with the secret at index secret.
func (z *zoom) validate(body []byte, secret int) (Result, error) {
	payload, ok := jsonField(body, "payload")
	if !ok {
		return Result{}, errZoomNoToken
	}
	raw, ok := jsonField(payload, "plainToken")
	if !ok {
		return Result{}, errZoomNoToken
	}
	token, ok := jsonText(raw)
	if !ok || len(token) == 0 {
		return Result{}, errZoomNoToken
	}
	st := z.keys.pools[secret].Get().(*macState)
	st.mac.Reset()
	st.mac.Write(token)
	encrypted := hex.EncodeToString(st.mac.Sum(st.sum[:0]))
	z.keys.pools[secret].Put(st)
	reply, _ := json.Marshal(struct { // two strings always marshal
		PlainToken     string `json:"plainToken"`
		EncryptedToken string `json:"encryptedToken"`
	}{string(token), encrypted})
	return Result{Event: zoomValidation, Reply: &Reply{Status: 200, ContentType: "application/json", Body: reply}}, nil
}
