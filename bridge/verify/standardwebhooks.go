package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
)

// The request headers of the Standard Webhooks specification, and the svix- names that
// senders built on Svix still use.
var (
	standardWebhooksHeaders = newStandardWebhooksNames("webhook")
	svixHeaders             = newStandardWebhooksNames("svix")
)

const (
	standardWebhooksScheme  = "standard-webhooks"
	svixScheme              = "svix"
	standardWebhooksPrefix  = "whsec_" // optional prefix of a secret, before its base64
	standardWebhooksVersion = "v1"     // the only signature version checked (HMAC-SHA256)
	standardWebhooksTypeKey = "type"   // top-level key of the event type in the body
)

// standardWebhooksOptions are the options the standard-webhooks scheme uses.
var standardWebhooksOptions = []string{"secrets", "tolerance"}

// Rejections that name no header, built once (see reqErr).
var (
	errStandardWebhooksNoSig    = reqErr(ErrMissingSignature, "no webhook-signature or svix-signature header")
	errStandardWebhooksEncoding = reqErr(ErrInvalidSignature, "no v1 signature of 32 base64-encoded bytes")
	errStandardWebhooksMismatch = reqErr(ErrInvalidSignature, "no configured secret produces any v1 signature")
)

func init() {
	register(func(scheme string, o Options) (Verifier, error) {
		return newStandardWebhooks(scheme, o)
	}, standardWebhooksScheme, svixScheme)
}

// standardWebhooksNames are the names of the three headers of one spelling, with their
// rejections built once.
type standardWebhooksNames struct {
	id, timestamp, sig    string
	errNoID, errTimestamp error
}

// newStandardWebhooksNames spells the headers with prefix, "webhook" or "svix".
func newStandardWebhooksNames(prefix string) *standardWebhooksNames {
	n := &standardWebhooksNames{
		id:        prefix + "-id",
		timestamp: prefix + "-timestamp",
		sig:       prefix + "-signature",
	}
	n.errNoID = reqErr(ErrMalformed, "no "+n.id+" header")
	n.errTimestamp = reqErr(ErrMalformed, n.timestamp+" is not a Unix time in seconds")
	return n
}

// standardWebhooks verifies the Standard Webhooks scheme (Svix and the senders built on it,
// GitLab's signing tokens): webhook-signature holds space-separated "v1,<base64>" elements,
// each the HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>" under the base64-decoded
// secret.
type standardWebhooks struct {
	name      string // the name it was configured under: "standard-webhooks" or "svix"
	keys      *keyring
	tolerance time.Duration
}

var _ Verifier = (*standardWebhooks)(nil)

// newStandardWebhooks uses the options secrets and tolerance and refuses any other. Each
// secret is base64 (standard alphabet, padding optional) after an optional "whsec_" prefix;
// one that is not yields a *FieldError (field "secrets") wrapping ErrInvalidOption.
func newStandardWebhooks(scheme string, o Options) (*standardWebhooks, error) {
	if err := onlyOptions(scheme, &o, standardWebhooksOptions...); err != nil {
		return nil, err
	}
	tol, err := toleranceOption(&o, DefaultTolerance)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(o.Secrets))
	for i, s := range o.Secrets {
		if keys[i], err = standardWebhooksKey(i, s); err != nil {
			return nil, err
		}
	}
	return newStandardWebhooksKeys(scheme, keys, tol)
}

// newStandardWebhooksKeys builds the verifier from decoded keys, for the standard-webhooks
// scheme and for the gitlab scheme's signing tokens.
func newStandardWebhooksKeys(name string, keys []string, tol time.Duration) (*standardWebhooks, error) {
	k, err := newKeyring(keys, sha256.New)
	if err != nil {
		return nil, err
	}
	return &standardWebhooks{name: name, keys: k, tolerance: tol}, nil
}

// standardWebhooksKey decodes secret number i, "whsec_" and base64 or base64 alone, into the
// HMAC key (as a string, the form newKeyring takes). Its errors name the secret by position
// only, never by content: ErrNoSecret when nothing is left to decode, ErrInvalidOption when
// it is not base64.
func standardWebhooksKey(i int, secret string) (string, error) {
	enc := strings.TrimRight(strings.TrimPrefix(secret, standardWebhooksPrefix), "=")
	if enc == "" {
		return "", fieldErr("secrets", ErrNoSecret, "secret %d is empty", i)
	}
	key, err := base64.RawStdEncoding.DecodeString(enc)
	// The decoder skips line breaks; a secret holding one was pasted wrong.
	if err != nil || strings.ContainsAny(enc, "\r\n") {
		return "", fieldErr("secrets", ErrInvalidOption, "secret %d is not base64 (after an optional %s)",
			i, standardWebhooksPrefix)
	}
	return string(key), nil
}

// Scheme returns the name the verifier was configured under, "standard-webhooks" or "svix".
func (s *standardWebhooks) Scheme() string { return s.name }

// Verify checks webhook-signature against every secret before it reads the body: one of its
// space-separated "v1,<base64>" elements must be the HMAC-SHA256 of webhook-id, a dot,
// webhook-timestamp (its text as sent), a dot and the raw body. Elements of other versions
// (v1a, …) and v1 elements that are not 32 base64-encoded bytes are ignored. The timestamp
// must then lie within the tolerance of the request's clock, in the past or the future.
// Without webhook-signature the svix-id, svix-timestamp and svix-signature headers are read
// instead; the two spellings are never mixed.
//
// The delivery id is webhook-id, which the sender keeps across retries and which the
// signature covers. The event is the body's top-level "type" when it is a string, else "".
//
// Errors: ErrMissingSignature (no signature header), ErrMalformed (no id header, or a
// timestamp that is not a Unix time in seconds), ErrInvalidSignature (no usable v1
// signature, or no secret matches), ErrStaleTimestamp (genuine, but outside the tolerance).
func (s *standardWebhooks) Verify(r *Request) (Result, error) {
	names := standardWebhooksHeaders
	sigs := r.Header(names.sig)
	if sigs == "" {
		names = svixHeaders
		if sigs = r.Header(names.sig); sigs == "" {
			return Result{}, errStandardWebhooksNoSig
		}
	}
	id, err := s.check(r, names, sigs)
	if err != nil {
		return Result{}, err
	}
	raw, _ := jsonField(r.Body, standardWebhooksTypeKey)
	typ, _ := jsonText(raw)
	return Result{DeliveryID: id, Event: string(typ)}, nil
}

// check verifies the signature header value sigs of a request whose headers are spelt as
// names, then its timestamp, and returns the id header's value.
func (s *standardWebhooks) check(r *Request, names *standardWebhooksNames, sigs string) (id string, err error) {
	if id = r.Header(names.id); id == "" {
		return "", names.errNoID
	}
	stamp := r.Header(names.timestamp)
	ts, ok := parseUnix(stamp)
	if !ok {
		return "", names.errTimestamp
	}
	if !standardWebhooksMatch(sigs, s.keys.size, nil) { // nothing decodes: spare the MACs
		return "", errStandardWebhooksEncoding
	}
	match := func(mac []byte) bool { return standardWebhooksMatch(sigs, s.keys.size, mac) }
	sb := getSignBuf()
	defer putSignBuf(sb)
	sb.b = append(append(append(append(sb.b, id...), '.'), stamp...), '.')
	if !s.keys.each(match, sb.b, r.Body) {
		return "", errStandardWebhooksMismatch
	}
	if err := checkTimestamp(r.now(), ts, s.tolerance); err != nil {
		return "", err
	}
	return id, nil
}

// standardWebhooksMatch reports whether a "v1,<base64>" element of the space-separated
// signature list sigs decodes to mac (compared in constant time); with mac nil, whether any
// decodes to size bytes. Elements of other versions, and v1 elements that do not decode to
// size bytes, are skipped.
func standardWebhooksMatch(sigs string, size int, mac []byte) bool {
	var buf [maxMAC]byte
	for rest := sigs; rest != ""; {
		var el string
		el, rest, _ = strings.Cut(rest, " ")
		version, enc, ok := strings.Cut(el, ",")
		if !ok || version != standardWebhooksVersion {
			continue
		}
		sig, ok := decodeBase64(buf[:], enc)
		if !ok || len(sig) != size {
			continue
		}
		if mac == nil || hmac.Equal(sig, mac) {
			return true
		}
	}
	return false
}
