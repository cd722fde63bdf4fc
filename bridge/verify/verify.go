package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"sync"
	"time"
)

// Header returns the value of a request header (case-insensitive name), "" if absent.
type Header func(name string) string

// Request is what a verifier sees of an incoming webhook.
type Request struct {
	Method string    // "POST"
	URL    string    // public URL the sender used (for schemes that sign it); may be ""
	Header Header    // header lookup
	Body   []byte    // raw body bytes, exactly as received; never modified
	Now    time.Time // clock for timestamp checks; zero means time.Now()
}

// Result is what a verified request yields.
type Result struct {
	// DeliveryID is the provider's delivery id, the dedupe key; "" when the scheme has none.
	DeliveryID string
	// Event is the provider's event type, dot-separated, e.g. "issues.opened"; "" if unknown.
	Event string
	// Reply, when non-nil, is a handshake the provider expects answered instead of storing
	// the event (Slack's url_verification and the like).
	Reply *Reply
}

// Reply is an answer a provider handshake requires.
type Reply struct {
	Status      int
	ContentType string
	Body        []byte
}

// Verifier checks one request. Implementations are safe for concurrent use.
type Verifier interface {
	// Scheme is the scheme's config name, e.g. "github".
	Scheme() string
	// Verify checks the request and returns what routing needs. Its errors wrap
	// ErrMissingSignature, ErrInvalidSignature, ErrStaleTimestamp or ErrMalformed.
	Verify(req *Request) (Result, error)
}

// Options is the scheme-independent configuration of one source, as the config file writes
// it. Secrets are only ever read by the verifier; nothing here is logged.
type Options struct {
	Secrets     []string      // several accepted at once (rotation); none may be empty
	Header      string        // hmac: signature header, e.g. "X-Signature"
	Prefix      string        // hmac: required prefix of the signature, e.g. "sha256="
	Encoding    string        // hmac: "hex" (default) or "base64"
	Algorithm   string        // hmac: "sha1", "sha256" (default), "sha512"
	IDHeader    string        // hmac, none: header holding the delivery id
	EventHeader string        // hmac, none: header holding the event type
	Event       string        // hmac, none: fixed event type without EventHeader ("webhook")
	Tolerance   time.Duration // timestamped schemes; 0 means DefaultTolerance
	AllowSHA1   bool          // github: accept X-Hub-Signature (SHA-1) when no SHA-256 is sent
}

// DefaultTolerance is how far a signed timestamp may lie from now, either way.
const DefaultTolerance = 5 * time.Minute

// New builds the verifier of a scheme: "github", "hmac" (algorithm from Options),
// "hmac-sha1", "hmac-sha256", "hmac-sha512", or "none" (accepts every request; a config must
// name it explicitly). It returns a *FieldError wrapping ErrUnknownScheme, ErrNoSecret or
// ErrInvalidOption for an unusable configuration.
func New(scheme string, o Options) (Verifier, error) {
	switch scheme {
	case "github":
		return newGitHub(o)
	case "hmac", "hmac-sha1", "hmac-sha256", "hmac-sha512":
		return newHMAC(scheme, o)
	case "none":
		return newNone(o), nil
	}
	return nil, fieldErr("verify", ErrUnknownScheme, "%q (known: github, hmac, hmac-sha1, hmac-sha256, hmac-sha512, none)", scheme)
}

// keyring holds one pool of keyed MACs per secret: the secrets are hashed into the HMAC key
// state once, at start-up, and the request path only resets and reuses them.
type keyring struct {
	pools []sync.Pool
	size  int
}

func newKeyring(field string, secrets []string, h func() hash.Hash) (*keyring, error) {
	if len(secrets) == 0 {
		return nil, fieldErr(field, ErrNoSecret, "at least one secret is required")
	}
	k := &keyring{pools: make([]sync.Pool, len(secrets)), size: h().Size()}
	for i, s := range secrets {
		if s == "" {
			return nil, fieldErr(field, ErrNoSecret, "secret %d is empty", i)
		}
		key := []byte(s)
		k.pools[i].New = func() any { return hmac.New(h, key) }
	}
	return k, nil
}

// match reports whether sig is the MAC of any secret over the parts, concatenated.
// The comparison is constant-time for each secret.
func (k *keyring) match(sig []byte, parts ...[]byte) bool {
	if len(sig) != k.size {
		return false
	}
	var sum [sha512.Size]byte
	ok := false
	for i := range k.pools {
		m := k.pools[i].Get().(hash.Hash)
		m.Reset()
		for _, p := range parts {
			m.Write(p)
		}
		mac := m.Sum(sum[:0])
		k.pools[i].Put(m)
		if hmac.Equal(mac, sig) {
			ok = true
		}
	}
	return ok
}

func hashFor(alg string) func() hash.Hash {
	switch alg {
	case "sha1":
		return sha1.New
	case "sha256", "":
		return sha256.New
	case "sha512":
		return sha512.New
	}
	return nil
}

// checkTimestamp refuses ts when it lies further than tol from now, in either direction.
func checkTimestamp(now, ts time.Time, tol time.Duration) error {
	if tol <= 0 {
		tol = DefaultTolerance
	}
	d := now.Sub(ts)
	if d > tol || d < -tol {
		return ErrStaleTimestamp
	}
	return nil
}
