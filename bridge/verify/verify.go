package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"
)

// Header returns the value of a request header (case-insensitive name), "" if absent.
type Header func(name string) string

// Request is what a verifier sees of an incoming webhook.
type Request struct {
	Method string // "POST"
	// RequestURI is the path and query the bridge received, e.g. "/webhooks/twilio?x=1".
	// Schemes that sign the URL join it to Options.PublicURL's scheme and host.
	RequestURI string
	// Host is the Host header the bridge received; used only when no PublicURL is configured.
	Host   string
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
	// AllowLegacy accepts a scheme's older signature versions (hubspot v1/v2).
	AllowLegacy bool
	// PublicURL is the URL the sender posts to, as it sees it (before any proxy), e.g.
	// "https://hooks.example.com/webhooks/twilio"; schemes that sign the URL need it.
	PublicURL string
	// TimestampHeader is the hmac scheme's header holding a signed Unix timestamp.
	TimestampHeader string
	// SignedContent is the hmac scheme's template of the signed bytes, with {timestamp},
	// {body}, {id} placeholders; "" means the body alone.
	SignedContent string
	// PublicKey verifies asymmetric schemes (discord: hex Ed25519; sendgrid: base64 or PEM
	// ECDSA P-256).
	PublicKey string
}

// DefaultTolerance is how far a signed timestamp may lie from now, either way.
const DefaultTolerance = 5 * time.Minute

// New builds the verifier of a scheme: "github", "hmac" (algorithm from Options),
// "hmac-sha1", "hmac-sha256", "hmac-sha512", or "none" (accepts every request; a config must
// name it explicitly). It returns a *FieldError wrapping ErrUnknownScheme, ErrNoSecret or
// ErrInvalidOption for an unusable configuration.
func New(scheme string, o Options) (Verifier, error) {
	if build, ok := schemes[scheme]; ok {
		return build(scheme, o)
	}
	return nil, fieldErr("verify", ErrUnknownScheme, "%q (known: %s)", scheme, strings.Join(Schemes(), ", "))
}

// schemes maps each scheme name to its constructor; every scheme file registers its own in
// an init function.
var schemes = map[string]func(scheme string, o Options) (Verifier, error){}

func register(build func(scheme string, o Options) (Verifier, error), names ...string) {
	for _, n := range names {
		if _, dup := schemes[n]; dup {
			panic("verify: scheme " + n + " registered twice")
		}
		schemes[n] = build
	}
}

// Schemes lists the known scheme names, sorted.
func Schemes() []string {
	names := make([]string, 0, len(schemes))
	for n := range schemes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
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
