package verify

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"time"
)

// Twitch EventSub's request headers.
const (
	twitchSig       = "Twitch-Eventsub-Message-Signature" // "sha256=" + hex HMAC-SHA256 of id, timestamp and body
	twitchID        = "Twitch-Eventsub-Message-Id"        // signed; the same on every retry of a message
	twitchTimestamp = "Twitch-Eventsub-Message-Timestamp" // signed; RFC 3339 with nanoseconds
	twitchType      = "Twitch-Eventsub-Message-Type"      // notification, webhook_callback_verification, revocation
	twitchSubType   = "Twitch-Eventsub-Subscription-Type" // e.g. "channel.follow"
)

const (
	twitchScheme       = "twitch"
	twitchNotification = "notification"
	twitchChallenge    = "webhook_callback_verification"

	// TwitchTolerance is the twitch scheme's tolerance when Options.Tolerance is 0: Twitch
	// asks receivers to refuse messages older than 10 minutes.
	TwitchTolerance = 10 * time.Minute
)

// twitchOptions are the options the twitch scheme uses.
var twitchOptions = []string{"secrets", "tolerance"}

// Rejections, built once (see reqErr).
var (
	errTwitchNoSig       = reqErr(ErrMissingSignature, "no "+twitchSig+" header")
	errTwitchNoID        = reqErr(ErrMissingSignature, "no "+twitchID+" header")
	errTwitchNoTimestamp = reqErr(ErrMissingSignature, "no "+twitchTimestamp+" header")
	errTwitchTimestamp   = reqErr(ErrMalformed, twitchTimestamp+" is not an RFC 3339 time")
	errTwitchPrefix      = reqErr(ErrInvalidSignature, "signature lacks its sha256= prefix")
	errTwitchEncoding    = reqErr(ErrInvalidSignature, "signature is not a hex HMAC-SHA256")
	errTwitchMismatch    = reqErr(ErrInvalidSignature, "no configured secret produces the signature")
	errTwitchNoType      = reqErr(ErrMalformed, "no "+twitchType+" header")
	errTwitchNoSubType   = reqErr(ErrMalformed, "no "+twitchSubType+" header")
	errTwitchNoChallenge = reqErr(ErrMalformed, twitchChallenge+" without a challenge")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newTwitch(o) }, twitchScheme)
}

// twitch verifies Twitch EventSub webhook messages: Twitch-Eventsub-Message-Signature holds
// "sha256=" and the hex HMAC-SHA256, under the subscription's secret, of the message id,
// the message timestamp and the raw body, in that order and without separators.
type twitch struct {
	keys      *keyring
	tolerance time.Duration
}

var _ Verifier = (*twitch)(nil)

// newTwitch uses the options secrets (the subscriptions' secret; several during a
// rotation) and tolerance (0 means TwitchTolerance), and refuses any other.
func newTwitch(o Options) (*twitch, error) {
	if err := onlyOptions(twitchScheme, &o, twitchOptions...); err != nil {
		return nil, err
	}
	keys, err := newKeyring(o.Secrets, sha256.New)
	if err != nil {
		return nil, err
	}
	t := &twitch{keys: keys}
	if t.tolerance, err = toleranceOption(&o, TwitchTolerance); err != nil {
		return nil, err
	}
	return t, nil
}

// Scheme returns "twitch".
func (t *twitch) Scheme() string { return twitchScheme }

// Verify checks the signature against every secret before it reads the body; the signed
// timestamp must lie within the tolerance (default TwitchTolerance, 10 minutes) of the
// request's clock, in the past or the future.
//
// What follows depends on Twitch-Eventsub-Message-Type. A webhook_callback_verification
// message, once genuine, is answered through Result.Reply: a 200 whose text/plain body is
// the raw "challenge" of the message, and nothing is stored. A notification is an event
// named by Twitch-Eventsub-Subscription-Type, e.g. "channel.follow". Any other type is
// stored as an event named by the type and then the subscription type, so a revocation
// of a channel.follow subscription is "revocation.channel.follow". The delivery id is
// Twitch-Eventsub-Message-Id, which Twitch keeps when it resends a message.
//
// Errors: ErrMissingSignature (no signature, id or timestamp header), ErrInvalidSignature
// (no sha256= prefix, not hex, wrong length, no secret matches), ErrMalformed (the
// timestamp is not RFC 3339; genuine, but without a message type, a subscription type, or
// a challenge to answer), ErrStaleTimestamp (genuine, but outside the tolerance). Note
// that the two type headers are not covered by the signature.
func (t *twitch) Verify(r *Request) (Result, error) {
	sig := r.Header(twitchSig)
	if sig == "" {
		return Result{}, errTwitchNoSig
	}
	id := r.Header(twitchID)
	if id == "" {
		return Result{}, errTwitchNoID
	}
	stamp := r.Header(twitchTimestamp)
	if stamp == "" {
		return Result{}, errTwitchNoTimestamp
	}
	digest, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return Result{}, errTwitchPrefix
	}
	var buf [maxMAC]byte
	mac, ok := decodeHex(buf[:], digest)
	if !ok || len(mac) != t.keys.size {
		return Result{}, errTwitchEncoding
	}
	ts, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		return Result{}, errTwitchTimestamp
	}
	sb := getSignBuf()
	defer putSignBuf(sb)
	sb.b = append(append(sb.b, id...), stamp...)
	if !t.keys.match(mac, sb.b, r.Body) {
		return Result{}, errTwitchMismatch
	}
	if err := checkTimestamp(r.now(), ts, t.tolerance); err != nil {
		return Result{}, err
	}
	typ := r.Header(twitchType)
	switch typ {
	case "":
		return Result{}, errTwitchNoType
	case twitchChallenge:
		raw, ok := jsonField(r.Body, "challenge")
		if !ok {
			return Result{}, errTwitchNoChallenge
		}
		challenge, ok := jsonText(raw)
		if !ok || len(challenge) == 0 {
			return Result{}, errTwitchNoChallenge
		}
		return Result{DeliveryID: id, Event: twitchChallenge, Reply: &Reply{
			Status: 200, ContentType: "text/plain", Body: bytes.Clone(challenge),
		}}, nil
	}
	sub := r.Header(twitchSubType)
	if sub == "" {
		return Result{}, errTwitchNoSubType
	}
	if typ == twitchNotification {
		return Result{DeliveryID: id, Event: sub}, nil
	}
	return Result{DeliveryID: id, Event: typ + "." + sub}, nil
}
