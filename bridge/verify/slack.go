package verify

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"strings"
	"time"
)

// Slack's request headers.
const (
	slackSig       = "X-Slack-Signature"         // "v0=" + hex HMAC-SHA256 of "v0:<timestamp>:<body>"
	slackTimestamp = "X-Slack-Request-Timestamp" // Unix time in seconds
)

const (
	slackScheme  = "slack"
	slackVersion = "v0" // the signature version: prefix of the header and of the signed bytes

	slackTypeKey      = "type"      // top-level key of the payload type
	slackEventKey     = "event"     // top-level key of the inner event of an event_callback
	slackEventIDKey   = "event_id"  // top-level key of the event id, "Ev…"
	slackChallengeKey = "challenge" // top-level key of url_verification's challenge

	slackURLVerification = "url_verification"
	slackEventCallback   = "event_callback"

	// Events of form-encoded requests, and the form fields that tell them apart.
	slackInteractive      = "interactive" // block actions, shortcuts, view submissions …
	slackCommand          = "command"     // slash commands
	slackPayloadField     = "payload"
	slackCommandField     = "command"
	slackSSLCheckField    = "ssl_check"
	slackChallengeReplyCT = "text/plain"
)

// slackOptions are the options the slack scheme uses.
var slackOptions = []string{"secrets", "tolerance"}

// Rejections, built once (see reqErr).
var (
	errSlackNoSig     = reqErr(ErrMissingSignature, "no "+slackSig+" header")
	errSlackEncoding  = reqErr(ErrInvalidSignature, slackSig+" is not v0= and 64 hex digits")
	errSlackMismatch  = reqErr(ErrInvalidSignature, "no configured secret produces the signature")
	errSlackTimestamp = reqErr(ErrMalformed, slackTimestamp+" is not a Unix time in seconds")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newSlack(o) }, slackScheme)
}

// slack verifies Slack requests (Events API, slash commands, interactivity): the header
// X-Slack-Signature holds "v0=" and the hex HMAC-SHA256 of "v0:<timestamp>:<body>" under the
// app's signing secret, the timestamp being X-Slack-Request-Timestamp.
type slack struct {
	keys      *keyring
	tolerance time.Duration
}

var _ Verifier = (*slack)(nil)

// newSlack uses the options secrets and tolerance and refuses any other.
func newSlack(o Options) (*slack, error) {
	if err := onlyOptions(slackScheme, &o, slackOptions...); err != nil {
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
	return &slack{keys: k, tolerance: tol}, nil
}

// Scheme returns "slack".
func (s *slack) Scheme() string { return slackScheme }

// Verify checks X-Slack-Signature against every secret before it reads the body: it must be
// "v0=" and the hex HMAC-SHA256 of "v0:", X-Slack-Request-Timestamp (its text as sent), ":"
// and the raw body. The timestamp must then lie within the tolerance of the request's
// clock, in the past or the future.
//
// The event follows one rule per kind of request:
//   - JSON "event_callback" (Events API): the inner event.type, e.g. "app_mention" or
//     "message"; "event_callback" when there is none;
//   - JSON "url_verification": answered through Result.Reply (200, text/plain, the
//     challenge), never stored; its event is "url_verification";
//   - any other JSON payload: its top-level type, e.g. "app_rate_limited";
//   - form-encoded with a payload field (interactivity): "interactive";
//   - form-encoded with a command field (slash commands): "command";
//   - form-encoded ssl_check: answered through Result.Reply (200, empty), never stored;
//   - anything else: "".
//
// The delivery id is the body's top-level event_id (Events API) and "" for every other
// request. Slack retries an event with the same event_id and an X-Slack-Retry-Num header:
// the dedupe on the delivery id drops the repeats, nothing else does.
//
// Errors: ErrMissingSignature (no X-Slack-Signature), ErrInvalidSignature (not "v0=" and 64
// hex digits, or no secret matches), ErrMalformed (X-Slack-Request-Timestamp missing or not
// a Unix time in seconds), ErrStaleTimestamp (genuine, but outside the tolerance).
func (s *slack) Verify(r *Request) (Result, error) {
	sig := r.Header(slackSig)
	if sig == "" {
		return Result{}, errSlackNoSig
	}
	digest, ok := strings.CutPrefix(sig, slackVersion+"=")
	if !ok {
		return Result{}, errSlackEncoding
	}
	var buf [maxMAC]byte
	mac, ok := decodeHex(buf[:], digest)
	if !ok || len(mac) != s.keys.size {
		return Result{}, errSlackEncoding
	}
	stamp := r.Header(slackTimestamp)
	ts, ok := parseUnix(stamp)
	if !ok {
		return Result{}, errSlackTimestamp
	}
	sb := getSignBuf()
	defer putSignBuf(sb)
	sb.b = append(append(append(sb.b, slackVersion+":"...), stamp...), ':')
	if !s.keys.match(mac, sb.b, r.Body) {
		return Result{}, errSlackMismatch
	}
	if err := checkTimestamp(r.now(), ts, s.tolerance); err != nil {
		return Result{}, err
	}
	if isForm(r.Header("Content-Type")) {
		return slackForm(r.Body), nil
	}
	return slackJSON(r.Body), nil
}

// slackJSON reads the event type, the event id and a url_verification challenge of a
// verified JSON body.
func slackJSON(body []byte) Result {
	raw, _ := jsonField(body, slackTypeKey)
	typ, _ := jsonText(raw)
	switch string(typ) {
	case slackURLVerification:
		raw, _ = jsonField(body, slackChallengeKey)
		challenge, _ := jsonText(raw)
		return Result{Event: slackURLVerification, Reply: &Reply{
			Status: http.StatusOK, ContentType: slackChallengeReplyCT, Body: bytes.Clone(challenge),
		}}
	case slackEventCallback:
		raw, _ = jsonField(body, slackEventKey)
		raw, _ = jsonField(raw, slackTypeKey)
		if inner, _ := jsonText(raw); len(inner) > 0 {
			typ = inner
		}
	}
	raw, _ = jsonField(body, slackEventIDKey)
	id, _ := jsonText(raw)
	both := string(id) + string(typ) // one allocation for the two
	return Result{DeliveryID: both[:len(id)], Event: both[len(id):]}
}

// slackForm names the event of a verified form-encoded body by the fields it has.
func slackForm(body []byte) Result {
	switch {
	case slackFormHas(body, slackPayloadField):
		return Result{Event: slackInteractive}
	case slackFormHas(body, slackCommandField):
		return Result{Event: slackCommand}
	case slackFormHas(body, slackSSLCheckField):
		return Result{Reply: &Reply{Status: http.StatusOK}}
	}
	return Result{}
}

// slackFormHas reports whether the form-encoded body has a field named key (written
// without escapes, as Slack writes its field names). It allocates nothing.
func slackFormHas(body []byte, key string) bool {
	for rest := body; len(rest) > 0; {
		var field []byte
		field, rest, _ = bytes.Cut(rest, []byte{'&'})
		k, _, _ := bytes.Cut(field, []byte{'='})
		if string(k) == key {
			return true
		}
	}
	return false
}
