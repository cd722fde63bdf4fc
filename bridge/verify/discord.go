package verify

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"time"
)

// Discord's request headers.
const (
	discordSig       = "X-Signature-Ed25519"   // hex Ed25519 signature of the timestamp and the body
	discordTimestamp = "X-Signature-Timestamp" // Unix time in seconds, signed
)

const discordScheme = "discord"

// discordOptions are the options the discord scheme uses; it has no secrets.
var discordOptions = []string{"public_key", "tolerance"}

// discordEvents are the events of the interaction types, by type number.
var discordEvents = map[string]string{
	"1": "interaction.ping",
	"2": "interaction.application_command",
	"3": "interaction.message_component",
	"4": "interaction.application_command_autocomplete",
	"5": "interaction.modal_submit",
}

// discordPong answers a PING.
var discordPong = []byte(`{"type":1}`)

// Rejections, built once (see reqErr).
var (
	errDiscordNoSig       = reqErr(ErrMissingSignature, "no "+discordSig+" header")
	errDiscordNoTimestamp = reqErr(ErrMissingSignature, "no "+discordTimestamp+" header")
	errDiscordTimestamp   = reqErr(ErrMalformed, discordTimestamp+" is not a Unix time in seconds")
	errDiscordEncoding    = reqErr(ErrInvalidSignature, "signature is not a hex Ed25519 signature")
	errDiscordMismatch    = reqErr(ErrInvalidSignature, "the public key does not verify the signature")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newDiscord(o) }, discordScheme)
}

// discord verifies Discord interactions: X-Signature-Ed25519 holds the hex Ed25519
// signature of X-Signature-Timestamp followed by the raw body, made with the private key
// of the application whose public key is configured.
type discord struct {
	key       ed25519.PublicKey
	tolerance time.Duration
}

var _ Verifier = (*discord)(nil)

// newDiscord uses the options public_key (required: the application's public key, 64 hex
// digits, as the developer portal shows it) and tolerance, and refuses any other, secrets
// included: Discord signs with a key pair, and the bridge holds only the public half.
func newDiscord(o Options) (*discord, error) {
	if err := onlyOptions(discordScheme, &o, discordOptions...); err != nil {
		return nil, err
	}
	if o.PublicKey == "" {
		return nil, fieldErr("public_key", ErrInvalidOption, "required for scheme %q: the application's public key in hex", discordScheme)
	}
	var buf [ed25519.PublicKeySize]byte
	key, ok := decodeHex(buf[:], strings.TrimSpace(o.PublicKey))
	if !ok || len(key) != ed25519.PublicKeySize {
		// The value is not shown: a secret pasted into the wrong key would be.
		return nil, fieldErr("public_key", ErrInvalidOption, "not an Ed25519 public key of %d hex digits", 2*ed25519.PublicKeySize)
	}
	d := &discord{key: ed25519.PublicKey(bytes.Clone(key))}
	var err error
	if d.tolerance, err = toleranceOption(&o, DefaultTolerance); err != nil {
		return nil, err
	}
	return d, nil
}

// Scheme returns "discord".
func (d *discord) Scheme() string { return discordScheme }

// Verify checks the Ed25519 signature with the public key before it reads the body; the
// signed timestamp must lie within the tolerance (default 5 minutes) of the request's
// clock, in the past or the future. Ed25519 reads its message whole, so the timestamp and
// the body are joined in a pooled buffer first.
//
// A genuine PING (type 1) is answered through Result.Reply with a 200 and the JSON
// {"type":1}, as Discord requires, and nothing is stored. Any other interaction is an
// event named "interaction." and its type: "application_command", "message_component",
// "application_command_autocomplete", "modal_submit", or the type's number when it is
// another; "interaction" when the body has no numeric type. The delivery id is the
// interaction's "id", unique to it.
//
// Errors: ErrMissingSignature (no signature or timestamp header), ErrInvalidSignature (not
// hex, wrong length, the key does not verify it), ErrMalformed (the timestamp is not a
// number), ErrStaleTimestamp (genuine, but outside the tolerance).
func (d *discord) Verify(r *Request) (Result, error) {
	sigHex := r.Header(discordSig)
	if sigHex == "" {
		return Result{}, errDiscordNoSig
	}
	stamp := r.Header(discordTimestamp)
	if stamp == "" {
		return Result{}, errDiscordNoTimestamp
	}
	var buf [ed25519.SignatureSize]byte
	sig, ok := decodeHex(buf[:], sigHex)
	if !ok || len(sig) != ed25519.SignatureSize {
		return Result{}, errDiscordEncoding
	}
	ts, ok := parseUnix(stamp)
	if !ok {
		return Result{}, errDiscordTimestamp
	}
	sb := getSignBuf()
	sb.b = append(append(sb.b, stamp...), r.Body...)
	genuine := ed25519.Verify(d.key, sb.b, sig)
	putSignBuf(sb)
	if !genuine {
		return Result{}, errDiscordMismatch
	}
	if err := checkTimestamp(r.now(), ts, d.tolerance); err != nil {
		return Result{}, err
	}
	res := Result{Event: "interaction"}
	if raw, ok := jsonField(r.Body, "id"); ok {
		if id, ok := jsonText(raw); ok {
			res.DeliveryID = string(id)
		}
	}
	if raw, ok := jsonField(r.Body, "type"); ok && discordNumber(raw) {
		if event, ok := discordEvents[string(raw)]; ok {
			res.Event = event
		} else {
			res.Event += "." + string(raw)
		}
		if string(raw) == "1" {
			res.Reply = &Reply{Status: 200, ContentType: "application/json", Body: bytes.Clone(discordPong)}
		}
	}
	return res, nil
}

// discordNumber reports whether raw is a small unsigned JSON integer.
func discordNumber(raw []byte) bool {
	if len(raw) == 0 || len(raw) > 4 {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
