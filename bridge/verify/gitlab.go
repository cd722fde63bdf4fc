package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// GitLab's request headers.
const (
	gitLabToken = "X-Gitlab-Token"      // the secret token itself, in clear
	gitLabEvent = "X-Gitlab-Event"      // e.g. "Issue Hook"
	gitLabUUID  = "X-Gitlab-Event-UUID" // the delivery id
)

const (
	gitLabScheme    = "gitlab"
	gitLabObjectKey = "object_attributes" // top-level key of the object an event is about
	gitLabActionKey = "action"            // key of the action inside object_attributes
)

// gitLabOptions are the options the gitlab scheme uses.
var gitLabOptions = []string{"secrets", "tolerance"}

// Rejections, built once (see reqErr).
var (
	errGitLabNoToken  = reqErr(ErrMissingSignature, "no "+gitLabToken+" header")
	errGitLabNoSig    = reqErr(ErrMissingSignature, "no "+standardWebhooksHeaders.sig+" header (only signing tokens are configured)")
	errGitLabMismatch = reqErr(ErrInvalidSignature, gitLabToken+" is none of the configured secret tokens")
	errGitLabNoEvent  = reqErr(ErrMalformed, "no "+gitLabEvent+" header")
)

func init() {
	register(func(_ string, o Options) (Verifier, error) { return newGitLab(o) }, gitLabScheme)
}

// gitLab verifies GitLab deliveries in either of GitLab's modes: a secret token that GitLab
// sends in clear in X-Gitlab-Token, or a signing token ("whsec_…") with which GitLab signs each
// delivery the Standard Webhooks way.
type gitLab struct {
	tokens [][sha256.Size]byte // SHA-256 of each secret token
	signed *standardWebhooks   // nil without a signing token
}

var _ Verifier = (*gitLab)(nil)

// newGitLab uses the options secrets and tolerance and refuses any other. A secret that
// starts with "whsec_" is a signing token (its base64 must decode, else a *FieldError for
// field "secrets" wrapping ErrInvalidOption); any other is a secret token. tolerance needs a
// signing token among the secrets.
func newGitLab(o Options) (*gitLab, error) {
	if err := onlyOptions(gitLabScheme, &o, gitLabOptions...); err != nil {
		return nil, err
	}
	tol, err := toleranceOption(&o, DefaultTolerance)
	if err != nil {
		return nil, err
	}
	if len(o.Secrets) == 0 {
		return nil, fieldErr("secrets", ErrNoSecret, "at least one secret is required")
	}
	g := &gitLab{}
	var keys []string
	for i, s := range o.Secrets {
		switch {
		case s == "":
			return nil, fieldErr("secrets", ErrNoSecret, "secret %d is empty", i)
		case strings.HasPrefix(s, standardWebhooksPrefix):
			key, err := standardWebhooksKey(i, s)
			if err != nil {
				return nil, err
			}
			keys = append(keys, key)
		default:
			g.tokens = append(g.tokens, sha256.Sum256([]byte(s)))
		}
	}
	if keys == nil {
		if o.Tolerance != 0 { // set, though only signed deliveries carry a timestamp
			return nil, fieldErr("tolerance", ErrInvalidOption, "needs a %s signing token among the secrets", standardWebhooksPrefix)
		}
		return g, nil
	}
	if g.signed, err = newStandardWebhooksKeys(gitLabScheme, keys, tol); err != nil {
		return nil, err
	}
	return g, nil
}

// Scheme returns "gitlab".
func (g *gitLab) Scheme() string { return gitLabScheme }

// Verify checks a delivery before it reads the body, in one of two ways.
//
// When the request carries webhook-signature and a signing token is configured, it is
// checked exactly as the standard-webhooks scheme checks it (HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>", timestamp within the tolerance), and its
// verdict is final: X-Gitlab-Token is then not looked at.
//
// Otherwise X-Gitlab-Token must equal one of the configured secret tokens. Both sides are
// hashed with SHA-256 and the digests compared in constant time against every token, so
// neither the content nor the length of a token leaks through timing. A request without
// webhook-signature to a source that has only signing tokens is refused.
//
// The delivery id is X-Gitlab-Event-UUID, else webhook-id. The event is X-Gitlab-Event made
// token-safe (lowercase, every byte other than a-z, 0-9, '-' and '_' turned into '_': "Issue
// Hook" becomes "issue_hook"), followed by the body's object_attributes.action when there is
// one: "issue_hook.open", "merge_request_hook.merge".
//
// Errors: ErrMissingSignature (no X-Gitlab-Token, or no webhook-signature where only signing
// tokens are configured), ErrInvalidSignature (no token or signature matches), ErrMalformed
// (signed without webhook-id or a readable webhook-timestamp; or genuine, but no
// X-Gitlab-Event), ErrStaleTimestamp (signed, genuine, but outside the tolerance). GitLab's
// secret token is sent in clear with every delivery and covers none of it: only a signing
// token protects the body and guards against replays.
func (g *gitLab) Verify(r *Request) (Result, error) {
	var id string
	if sigs := r.Header(standardWebhooksHeaders.sig); sigs != "" && g.signed != nil {
		var err error
		if id, err = g.signed.check(r, standardWebhooksHeaders, sigs); err != nil {
			return Result{}, err
		}
	} else {
		if len(g.tokens) == 0 {
			return Result{}, errGitLabNoSig
		}
		token := r.Header(gitLabToken)
		if token == "" {
			return Result{}, errGitLabNoToken
		}
		if !g.tokenMatches(token) {
			return Result{}, errGitLabMismatch
		}
		id = r.Header(standardWebhooksHeaders.id)
	}
	event := r.Header(gitLabEvent)
	if event == "" {
		return Result{}, errGitLabNoEvent
	}
	if uuid := r.Header(gitLabUUID); uuid != "" {
		id = uuid
	}
	return Result{DeliveryID: id, Event: gitLabEventName(event, r.Body)}, nil
}

// tokenMatches reports whether token is one of the secret tokens. It compares SHA-256
// digests in constant time and always against every token.
func (g *gitLab) tokenMatches(token string) bool {
	sb := getSignBuf() // a long token, converted, would allocate
	sb.b = append(sb.b, token...)
	sum := sha256.Sum256(sb.b)
	putSignBuf(sb)
	match := 0
	for i := range g.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], g.tokens[i][:])
	}
	return match == 1
}

// gitLabEventName makes header, the X-Gitlab-Event value, token-safe and lowercase, and
// appends the body's object_attributes.action, if any, after a dot.
func gitLabEventName(header string, body []byte) string {
	raw, _ := jsonField(body, gitLabObjectKey)
	raw, _ = jsonField(raw, gitLabActionKey)
	action, _ := jsonText(raw)
	var b strings.Builder
	b.Grow(len(header) + 1 + len(action))
	for i := 0; i < len(header); i++ {
		switch c := header[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte('_')
		}
	}
	if len(action) > 0 {
		b.WriteByte('.')
		b.Write(action)
	}
	return b.String()
}
