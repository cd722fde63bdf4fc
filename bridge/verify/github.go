package verify

import (
	"crypto/sha1"
	"crypto/sha256"
	"strings"
)

// GitHub's request headers.
const (
	gitHubSig256   = "X-Hub-Signature-256" // "sha256=" + hex HMAC-SHA256 of the body
	gitHubSig1     = "X-Hub-Signature"     // "sha1=" + hex HMAC-SHA1 of the body (legacy)
	gitHubEvent    = "X-GitHub-Event"
	gitHubDelivery = "X-GitHub-Delivery"
)

const (
	gitHubScheme       = "github"
	gitHubActionKey    = "action"  // top-level key of the payload's action
	gitHubPayloadField = "payload" // form field of a form-encoded payload
)

// gitHubOptions are the options the github scheme uses.
var gitHubOptions = []string{"secrets", "allow_sha1"}

// Rejections, built once (see reqErr).
var (
	errGitHubNoSig    = reqErr(ErrMissingSignature, "no "+gitHubSig256+" header")
	errGitHubNoSigs   = reqErr(ErrMissingSignature, "neither "+gitHubSig256+" nor "+gitHubSig1+" header")
	errGitHubPrefix   = reqErr(ErrInvalidSignature, "signature lacks its sha256= or sha1= prefix")
	errGitHubEncoding = reqErr(ErrInvalidSignature, "signature is not a hex digest of the right length")
	errGitHubMismatch = reqErr(ErrInvalidSignature, "no configured secret produces the signature")
	errGitHubNoEvent  = reqErr(ErrMalformed, "no "+gitHubEvent+" header")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newGitHub(o) }, gitHubScheme)
}

// gitHub verifies GitHub deliveries: X-Hub-Signature-256 holds "sha256=" and the hex
// HMAC-SHA256 of the raw body under the webhook secret.
type gitHub struct {
	sha256 *keyring
	sha1   *keyring // nil unless allow_sha1
}

var _ Verifier = (*gitHub)(nil)

// newGitHub uses the options secrets and allow_sha1 and refuses any other.
func newGitHub(o Options) (*gitHub, error) {
	if err := onlyOptions(gitHubScheme, &o, gitHubOptions...); err != nil {
		return nil, err
	}
	k, err := newKeyring(o.Secrets, sha256.New)
	if err != nil {
		return nil, err
	}
	g := &gitHub{sha256: k}
	if o.AllowSHA1 {
		if g.sha1, err = newKeyring(o.Secrets, sha1.New); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Scheme returns "github".
func (g *gitHub) Scheme() string { return gitHubScheme }

// Verify checks X-Hub-Signature-256 against every secret before it reads anything else.
// With allow_sha1, and only when no X-Hub-Signature-256 header is sent, X-Hub-Signature
// ("sha1=" + hex HMAC-SHA1) is checked instead. Hex digits may be in either case.
//
// The delivery id is X-GitHub-Delivery. The event is X-GitHub-Event, followed by the
// payload's top-level "action" when there is one: "issues" and "opened" make
// "issues.opened", "ping" stays "ping". A form-encoded delivery (Content-Type
// application/x-www-form-urlencoded) carries the payload in its "payload" field. The payload
// is read only as far as its action; one that is not a JSON object, or is malformed before
// the action, yields the bare event.
//
// Errors: ErrMissingSignature (no signature header), ErrInvalidSignature (wrong prefix, not
// hex, wrong length, no secret matches), ErrMalformed (genuine, but no X-GitHub-Event).
//
// GitHub signs the body only: the event and delivery id headers are not covered by the
// signature.
func (g *gitHub) Verify(r *Request) (Result, error) {
	keys, sig, prefix := g.sha256, r.Header(gitHubSig256), "sha256="
	if sig == "" && g.sha1 != nil {
		keys, sig, prefix = g.sha1, r.Header(gitHubSig1), "sha1="
		if sig == "" {
			return Result{}, errGitHubNoSigs
		}
	}
	if sig == "" {
		return Result{}, errGitHubNoSig
	}
	digest, ok := strings.CutPrefix(sig, prefix)
	if !ok {
		return Result{}, errGitHubPrefix
	}
	var buf [maxMAC]byte
	mac, ok := decodeHex(buf[:], digest)
	if !ok || len(mac) != keys.size {
		return Result{}, errGitHubEncoding
	}
	if !keys.match(mac, r.Body) {
		return Result{}, errGitHubMismatch
	}
	event := r.Header(gitHubEvent)
	if event == "" {
		return Result{}, errGitHubNoEvent
	}
	if action := gitHubAction(r.Header("Content-Type"), r.Body); len(action) > 0 {
		event += "." + string(action)
	}
	return Result{DeliveryID: r.Header(gitHubDelivery), Event: event}, nil
}

// gitHubAction returns the top-level "action" of a GitHub payload, nil when there is none
// (or it is not a string).
func gitHubAction(contentType string, body []byte) []byte {
	if isForm(contentType) {
		payload, ok := formValue(body, gitHubPayloadField)
		if !ok {
			return nil
		}
		body = payload
	}
	raw, ok := jsonField(body, gitHubActionKey)
	if !ok {
		return nil
	}
	action, _ := jsonText(raw)
	return action
}
