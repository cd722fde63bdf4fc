package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"time"
)

// SendGrid's Event Webhook request headers.
const (
	sendGridSig       = "X-Twilio-Email-Event-Webhook-Signature" // base64 ASN.1 ECDSA P-256 signature
	sendGridTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp" // Unix time in seconds, signed
)

const (
	sendGridScheme = "sendgrid"
	sendGridEvent  = "sendgrid.events" // the event of every delivery: a batch of email events

	// sendGridMaxSig is the longest ASN.1 ECDSA P-256 signature: a sequence of two
	// integers of at most 33 bytes each.
	sendGridMaxSig = 2 + 2*(2+33)
)

// sendGridOptions are the options the sendgrid scheme uses; it has no secrets.
var sendGridOptions = []string{"public_key", "tolerance"}

// Rejections, built once (see reqErr).
var (
	errSendGridNoSig       = reqErr(ErrMissingSignature, "no "+sendGridSig+" header")
	errSendGridNoTimestamp = reqErr(ErrMissingSignature, "no "+sendGridTimestamp+" header")
	errSendGridTimestamp   = reqErr(ErrMalformed, sendGridTimestamp+" is not a Unix time in seconds")
	errSendGridEncoding    = reqErr(ErrInvalidSignature, "signature is not a base64 ECDSA signature")
	errSendGridMismatch    = reqErr(ErrInvalidSignature, "the public key does not verify the signature")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newSendGrid(o) }, sendGridScheme)
}

// sendGrid verifies SendGrid's signed Event Webhook: the signature header holds the base64
// ASN.1 ECDSA P-256 signature of the SHA-256 of the timestamp header followed by the raw
// body, made with SendGrid's private key for the account.
type sendGrid struct {
	key       *ecdsa.PublicKey
	tolerance time.Duration
}

var _ Verifier = (*sendGrid)(nil)

// newSendGrid uses the options public_key (required: the verification key SendGrid shows,
// base64 DER SubjectPublicKeyInfo, or the same in a PEM "PUBLIC KEY" block) and
// tolerance, and refuses any other, secrets included.
func newSendGrid(o Options) (*sendGrid, error) {
	if err := onlyOptions(sendGridScheme, &o, sendGridOptions...); err != nil {
		return nil, err
	}
	key, err := parseSendGridKey(o.PublicKey)
	if err != nil {
		return nil, err
	}
	s := &sendGrid{key: key}
	if s.tolerance, err = toleranceOption(&o, DefaultTolerance); err != nil {
		return nil, err
	}
	return s, nil
}

// parseSendGridKey reads an ECDSA P-256 public key, base64 DER or PEM. Its errors never
// show the value: a secret pasted into the wrong option would be.
func parseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fieldErr("public_key", ErrInvalidOption, "required for scheme %q: the verification key, base64 or PEM", sendGridScheme)
	}
	var der []byte
	if strings.HasPrefix(s, "-----BEGIN") {
		block, rest := pem.Decode([]byte(s))
		if block == nil || block.Type != "PUBLIC KEY" || strings.TrimSpace(string(rest)) != "" {
			return nil, fieldErr("public_key", ErrInvalidOption, "want exactly one PEM block of type PUBLIC KEY")
		}
		der = block.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), "")); err != nil {
			return nil, fieldErr("public_key", ErrInvalidOption, "neither PEM nor base64")
		}
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fieldErr("public_key", ErrInvalidOption, "not a DER SubjectPublicKeyInfo")
	}
	key, ok := pub.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fieldErr("public_key", ErrInvalidOption, "not an ECDSA P-256 public key")
	}
	return key, nil
}

// Scheme returns "sendgrid".
func (s *sendGrid) Scheme() string { return sendGridScheme }

// Verify checks the ECDSA signature with the public key before it reads the body; the
// signed timestamp must lie within the tolerance (default 5 minutes) of the request's
// clock, in the past or the future. The signature may be base64 with or without padding.
//
// Every delivery is the event "sendgrid.events": a JSON array of email events of any
// types. The delivery id is empty, so the bridge keys the event by the digest of its
// body: SendGrid's ids (sg_event_id) belong to the events inside a batch, not to the
// delivery.
//
// Errors: ErrMissingSignature (no signature or timestamp header), ErrInvalidSignature (not
// base64, too long, the key does not verify it), ErrMalformed (the timestamp is not a
// number), ErrStaleTimestamp (genuine, but outside the tolerance).
func (s *sendGrid) Verify(r *Request) (Result, error) {
	sig := r.Header(sendGridSig)
	if sig == "" {
		return Result{}, errSendGridNoSig
	}
	stamp := r.Header(sendGridTimestamp)
	if stamp == "" {
		return Result{}, errSendGridNoTimestamp
	}
	var buf [sendGridMaxSig]byte
	der, ok := decodeSendGridSig(buf[:], sig)
	if !ok {
		return Result{}, errSendGridEncoding
	}
	ts, ok := parseUnix(stamp)
	if !ok {
		return Result{}, errSendGridTimestamp
	}
	sb := getSignBuf()
	sb.b = append(sb.b, stamp...)
	h := sha256.New()
	h.Write(sb.b)
	h.Write(r.Body)
	putSignBuf(sb)
	var sum [sha256.Size]byte
	if !ecdsa.VerifyASN1(s.key, h.Sum(sum[:0]), der) {
		return Result{}, errSendGridMismatch
	}
	if err := checkTimestamp(r.now(), ts, s.tolerance); err != nil {
		return Result{}, err
	}
	return Result{Event: sendGridEvent}, nil
}

// decodeSendGridSig decodes standard base64, padded or not, into dst; ok is false when s is
// not base64 or does not fit dst.
func decodeSendGridSig(dst []byte, s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	const maxText = (sendGridMaxSig*8 + 5) / 6
	if len(s) > maxText || base64.RawStdEncoding.DecodedLen(len(s)) > len(dst) {
		return nil, false
	}
	var src [maxText]byte // a stack copy: converting s would allocate
	n := copy(src[:], s)
	m, err := base64.RawStdEncoding.Decode(dst, src[:n])
	if err != nil {
		return nil, false
	}
	return dst[:m], true
}
