package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
)

// Twilio's request headers and URL parameter.
const (
	twilioSig         = "X-Twilio-Signature"         // base64 HMAC-SHA1 of the URL and the form parameters
	twilioIdempotency = "I-Twilio-Idempotency-Token" // the same on every retry of one delivery
	twilioBodySHA256  = "bodySHA256"                 // query parameter of JSON deliveries: hex SHA-256 of the body
)

const twilioScheme = "twilio"

// twilioOptions are the options the twilio scheme uses.
var twilioOptions = []string{"secrets", "public_url"}

// Rejections, built once (see reqErr).
var (
	errTwilioNoSig    = reqErr(ErrMissingSignature, "no "+twilioSig+" header")
	errTwilioEncoding = reqErr(ErrInvalidSignature, "signature is not a base64 HMAC-SHA1")
	errTwilioForm     = reqErr(ErrInvalidSignature, "form body does not decode, so its signature cannot be checked")
	errTwilioBodyHash = reqErr(ErrInvalidSignature, twilioBodySHA256+" is not the hex SHA-256 of the body")
	errTwilioMismatch = reqErr(ErrInvalidSignature, "no configured secret produces the signature")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newTwilio(o) }, twilioScheme)
}

// twilio verifies Twilio webhooks: X-Twilio-Signature holds the base64 HMAC-SHA1, under the
// account's auth token, of the full URL Twilio posted to followed by every form parameter,
// name then value, sorted by name.
type twilio struct {
	keys  *keyring
	url   signedURL
	other string // public_url with its port dropped, or with the scheme's default port added
}

var _ Verifier = (*twilio)(nil)

// newTwilio uses the options secrets (the auth token; several during a rotation) and
// public_url (required), and refuses any other. Twilio signs no time, so there is no
// tolerance.
func newTwilio(o Options) (*twilio, error) {
	if err := onlyOptions(twilioScheme, &o, twilioOptions...); err != nil {
		return nil, err
	}
	keys, err := newKeyring(o.Secrets, sha1.New)
	if err != nil {
		return nil, err
	}
	t := &twilio{keys: keys}
	if t.url, err = newSignedURL(twilioScheme, o.PublicURL); err != nil {
		return nil, err
	}
	t.other = twilioOtherPort(t.url.base)
	return t, nil
}

// Scheme returns "twilio".
func (t *twilio) Scheme() string { return twilioScheme }

// Verify checks X-Twilio-Signature against every secret. The URL is public_url followed by
// the query of the request, accepted with and without a port (a URL without one is also
// tried with :443 or :80, one with a port also without it), since Twilio signs either
// form.
//
// A form delivery signs the URL followed by each decoded parameter of the body, name then
// value, sorted by name and then by value: the body is decoded for that and nothing of it
// is read before the signature holds. The signature thus covers the parameters, not the
// bytes, so two encodings of the same parameters verify alike. A JSON delivery carries
// bodySHA256, the hex SHA-256 of the body, in the URL's query: its signature covers the
// URL alone, and the body must hash to bodySHA256.
//
// Twilio signs no time, so a recorded delivery stays valid for ever: within the dedupe
// horizon its delivery id catches a replay, beyond it nothing does. The delivery id is
// I-Twilio-Idempotency-Token, which Twilio keeps across retries. Without it, a form
// delivery's id is its MessageSid and status (MessageStatus, else SmsStatus), e.g.
// "SM…:delivered", else its CallSid and CallStatus, e.g. "CA…:completed" (the sid alone
// when there is no status), else none, and the bridge keys the event by the digest of its
// body. The event is "message.<status>" for a delivery with a MessageSid ("message"
// without a status), "call.<CallStatus>" for one with a CallSid ("call" without), else
// "webhook"; JSON deliveries are always "webhook".
//
// Errors: ErrMissingSignature (no signature header), ErrInvalidSignature (not base64,
// wrong length, a form body that does not decode, a body that does not match bodySHA256,
// no secret matches).
func (t *twilio) Verify(r *Request) (Result, error) {
	sig := r.Header(twilioSig)
	if sig == "" {
		return Result{}, errTwilioNoSig
	}
	var buf [maxMAC]byte
	mac, ok := decodeBase64(buf[:], sig)
	if !ok || len(mac) != t.keys.size {
		return Result{}, errTwilioEncoding
	}
	base, query := t.url.split(r)
	other := t.other
	if base != t.url.base {
		other = twilioOtherPort(base)
	}
	bodyHash, isJSON := twilioQueryValue(query, twilioBodySHA256)

	f := twilioForms.Get().(*twilioForm)
	defer f.release()
	if !isJSON && !f.parse(r.Body) {
		return Result{}, errTwilioForm
	}
	sb := getSignBuf()
	defer putSignBuf(sb)
	sb.b = append(append(sb.b, base...), query...)
	mid := len(sb.b)
	sb.b = append(append(sb.b, other...), query...)
	f.parts = append(f.parts[:0], sb.b[:mid])
	for _, p := range f.params {
		f.parts = append(f.parts, p.name, p.value)
	}
	if !t.keys.match(mac, f.parts...) {
		f.parts[0] = sb.b[mid:]
		if !t.keys.match(mac, f.parts...) {
			return Result{}, errTwilioMismatch
		}
	}
	if isJSON {
		var want [sha256.Size]byte
		got := sha256.Sum256(r.Body)
		if h, ok := decodeHex(want[:], bodyHash); !ok || !hmac.Equal(h, got[:]) {
			return Result{}, errTwilioBodyHash
		}
		return Result{DeliveryID: r.Header(twilioIdempotency), Event: "webhook"}, nil
	}
	return f.result(r.Header(twilioIdempotency)), nil
}

// twilioOtherPort returns the URL base (scheme, host, path) with its port dropped when it
// has one, else with the scheme's default port (:443 for https, :80 for http) added.
func twilioOtherPort(base string) string {
	i := strings.Index(base, "://")
	if i < 0 {
		return base
	}
	hostStart := i + len("://")
	hostEnd := len(base)
	if j := strings.IndexByte(base[hostStart:], '/'); j >= 0 {
		hostEnd = hostStart + j
	}
	host := base[hostStart:hostEnd]
	if c := strings.LastIndexByte(host, ':'); c >= 0 && c > strings.LastIndexByte(host, ']') {
		return base[:hostStart+c] + base[hostEnd:]
	}
	port := ":443"
	if strings.EqualFold(base[:i], "http") {
		port = ":80"
	}
	return base[:hostEnd] + port + base[hostEnd:]
}

// twilioQueryValue returns the raw value of the first parameter named key in a query
// ("?a=1&b=2"); ok is false when there is none.
func twilioQueryValue(query, key string) (value string, ok bool) {
	query = strings.TrimPrefix(query, "?")
	for query != "" {
		var field string
		field, query, _ = strings.Cut(query, "&")
		if k, v, _ := strings.Cut(field, "="); k == key {
			return v, true
		}
	}
	return "", false
}

// twilioParam is one decoded form parameter.
type twilioParam struct{ name, value []byte }

// twilioForm is the decoded form of one delivery, pooled so that verifying allocates
// nothing.
type twilioForm struct {
	params []twilioParam // sorted by name, then value
	buf    []byte        // decoded names and values; as long as the body, so never moved
	parts  [][]byte      // what the MAC reads: the URL, then each name and value
}

var twilioForms = sync.Pool{New: func() any { return new(twilioForm) }}

// release hands f back to the pool, unless it grew too large to keep.
func (f *twilioForm) release() {
	if cap(f.buf) > maxPooledSignBuf {
		return
	}
	clear(f.params) // drop the pointers into the body
	clear(f.parts)
	f.params, f.parts, f.buf = f.params[:0], f.parts[:0], f.buf[:0]
	twilioForms.Put(f)
}

// parse decodes an application/x-www-form-urlencoded body ('+' is a space, %XX a byte;
// empty fields are skipped) and sorts its parameters; ok is false on a broken escape.
func (f *twilioForm) parse(body []byte) bool {
	f.params = f.params[:0]
	if cap(f.buf) < len(body) {
		f.buf = make([]byte, 0, len(body))
	}
	f.buf = f.buf[:0]
	for len(body) > 0 {
		var field []byte
		field, body, _ = bytes.Cut(body, []byte{'&'})
		if len(field) == 0 {
			continue
		}
		name, value, _ := bytes.Cut(field, []byte{'='})
		var ok bool
		if name, ok = f.unescape(name); !ok {
			return false
		}
		if value, ok = f.unescape(value); !ok {
			return false
		}
		f.params = append(f.params, twilioParam{name: name, value: value})
	}
	slices.SortFunc(f.params, func(a, b twilioParam) int {
		if c := bytes.Compare(a.name, b.name); c != 0 {
			return c
		}
		return bytes.Compare(a.value, b.value)
	})
	return true
}

// unescape decodes form escaping in s, in place when there is none, else into f.buf.
func (f *twilioForm) unescape(s []byte) ([]byte, bool) {
	if bytes.IndexByte(s, '%') < 0 && bytes.IndexByte(s, '+') < 0 {
		return s, true
	}
	start := len(f.buf)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			f.buf = append(f.buf, ' ')
		case '%':
			if i+2 >= len(s) {
				return nil, false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, false
			}
			f.buf = append(f.buf, hi<<4|lo)
			i += 2
		default:
			f.buf = append(f.buf, c)
		}
	}
	return f.buf[start:len(f.buf):len(f.buf)], true
}

// value returns the value of the first parameter named name.
func (f *twilioForm) value(name string) ([]byte, bool) {
	for _, p := range f.params {
		if string(p.name) == name {
			return p.value, true
		}
	}
	return nil, false
}

// result derives the delivery id and event of a verified form delivery (see Verify).
func (f *twilioForm) result(token string) Result {
	for _, kind := range [...]struct{ sid, status, status2, event string }{
		{"MessageSid", "MessageStatus", "SmsStatus", "message"},
		{"CallSid", "CallStatus", "", "call"},
	} {
		sid, ok := f.value(kind.sid)
		if !ok || len(sid) == 0 {
			continue
		}
		status, _ := f.value(kind.status)
		if len(status) == 0 && kind.status2 != "" {
			status, _ = f.value(kind.status2)
		}
		res := Result{DeliveryID: token, Event: kind.event}
		if len(status) > 0 {
			res.Event += "." + string(status)
		}
		if token == "" {
			res.DeliveryID = string(sid)
			if len(status) > 0 {
				res.DeliveryID += ":" + string(status)
			}
		}
		return res
	}
	return Result{DeliveryID: token, Event: "webhook"}
}
