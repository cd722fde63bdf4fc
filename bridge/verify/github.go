package verify

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// GitHub headers.
const (
	githubSig256   = "X-Hub-Signature-256"
	githubSig1     = "X-Hub-Signature"
	githubEvent    = "X-GitHub-Event"
	githubDelivery = "X-GitHub-Delivery"
)

// gitHub verifies GitHub's X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the body.
type gitHub struct {
	sha256 *keyring
	sha1   *keyring // nil unless allow_sha1
}

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newGitHub(o) }, "github")
}

func newGitHub(o Options) (*gitHub, error) {
	k, err := newKeyring("secrets", o.Secrets, sha256.New)
	if err != nil {
		return nil, err
	}
	g := &gitHub{sha256: k}
	if o.AllowSHA1 {
		g.sha1, _ = newKeyring("secrets", o.Secrets, sha1.New)
	}
	return g, nil
}

func (g *gitHub) Scheme() string { return "github" }

// Verify checks the SHA-256 signature (or, with allow_sha1 and no SHA-256 header, the SHA-1
// one) before reading anything else, then takes the delivery id from X-GitHub-Delivery and
// the event from X-GitHub-Event plus the body's "action" ("issues" + "opened" →
// "issues.opened"). A body sent as a form (payload=…) is read the same way.
func (g *gitHub) Verify(r *Request) (Result, error) {
	keys, sig, prefix := g.sha256, r.Header(githubSig256), "sha256="
	if sig == "" && g.sha1 != nil {
		keys, sig, prefix = g.sha1, r.Header(githubSig1), "sha1="
	}
	if sig == "" {
		return Result{}, ErrMissingSignature
	}
	if !strings.HasPrefix(sig, prefix) {
		return Result{}, ErrInvalidSignature
	}
	var buf [64]byte
	hexSig := sig[len(prefix):]
	if len(hexSig) != 2*keys.size {
		return Result{}, ErrInvalidSignature
	}
	n, err := hex.Decode(buf[:], []byte(hexSig))
	if err != nil || !keys.match(buf[:n], r.Body) {
		return Result{}, ErrInvalidSignature
	}
	event := r.Header(githubEvent)
	if event == "" {
		return Result{}, fmt.Errorf("%w: no %s header", ErrMalformed, githubEvent)
	}
	if action := githubAction(r.Header("Content-Type"), r.Body); action != "" {
		event += "." + action
	}
	return Result{DeliveryID: r.Header(githubDelivery), Event: event}, nil
}

// githubAction reads the top-level "action" of a GitHub payload; "" when there is none.
func githubAction(contentType string, body []byte) string {
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return ""
		}
		body = []byte(form.Get("payload"))
	}
	// Only bodies that mention "action" are parsed; most event types (push, ping) have none.
	if !bytes.Contains(body, []byte(`"action"`)) {
		return ""
	}
	var p struct {
		Action string `json:"action"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	return p.Action
}
