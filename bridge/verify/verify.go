package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header returns the value of a request header (case-insensitive name), "" if absent.
type Header func(name string) string

// Request is what a verifier sees of an incoming webhook. Verifiers only read it.
type Request struct {
	Method string // "POST"
	// URL is the public URL the sender used, for schemes that sign it; "" when the caller
	// does not know it. Such schemes then join Options.PublicURL (or, without one, Host) to
	// RequestURI.
	URL string
	// RequestURI is the path and query the bridge received, e.g. "/webhooks/twilio?x=1".
	RequestURI string
	// Host is the Host header the bridge received; used only when no PublicURL is configured.
	Host   string
	Header Header    // header lookup; must not be nil
	Body   []byte    // raw body bytes, exactly as received; never modified
	Now    time.Time // clock for timestamp checks; zero means time.Now()
}

// now is the request's clock.
func (r *Request) now() time.Time {
	if r.Now.IsZero() {
		return time.Now()
	}
	return r.Now
}

// Result is what a verified request yields.
type Result struct {
	// DeliveryID is the provider's delivery id, the dedupe key; "" when the scheme has none.
	DeliveryID string
	// Event is the provider's event type, a dot-separated hierarchy such as
	// "issues.opened"; "" if unknown. It comes from the sender and is not sanitised here.
	Event string
	// Reply, when non-nil, is a handshake the provider expects answered instead of storing
	// the event (Slack's url_verification and the like).
	Reply *Reply
}

// Reply is an answer a provider handshake requires.
type Reply struct {
	Status      int    // HTTP status, e.g. 200
	ContentType string // "" leaves the server's default
	Body        []byte
}

// Verifier checks one request. Implementations are safe for concurrent use.
type Verifier interface {
	// Scheme is the scheme's name, e.g. "github" or "hmac-sha256"; it is recorded with
	// every event the verifier let through.
	Scheme() string
	// Verify checks the request, signature first, and returns what routing needs. Its
	// errors wrap ErrMissingSignature, ErrInvalidSignature, ErrStaleTimestamp or
	// ErrMalformed.
	Verify(req *Request) (Result, error)
}

// Options is the scheme-independent configuration of one source, as the config file writes
// it; the YAML key of each field is given in brackets. A scheme refuses options it does not
// use, so a misplaced key fails at start-up instead of being ignored. Secrets are only ever
// read by the verifier; nothing here may be logged.
type Options struct {
	Secrets     []string      // [secrets] several accepted at once (rotation); none may be empty
	Header      string        // [header] hmac: signature header, e.g. "X-Signature"
	Prefix      string        // [prefix] hmac: required prefix of each signature, e.g. "sha256="
	Encoding    string        // [encoding] hmac: "hex" (default) or "base64"
	Algorithm   string        // [algorithm] hmac: "sha1", "sha256" (default) or "sha512"
	IDHeader    string        // [id_header] hmac, none: header holding the delivery id
	EventHeader string        // [event_header] hmac, none: header holding the event type
	Event       string        // [event] hmac, none: event type without EventHeader ("webhook")
	Tolerance   time.Duration // [tolerance] timestamped schemes; 0 means DefaultTolerance
	AllowSHA1   bool          // [allow_sha1] github: accept X-Hub-Signature (SHA-1) when no SHA-256 is sent
	// AllowLegacy [allow_legacy] accepts a scheme's older signature versions (hubspot v1/v2).
	AllowLegacy bool
	// PublicURL [public_url] is the URL the sender posts to, as it sees it (before any
	// proxy), e.g. "https://hooks.example.com/webhooks/twilio"; schemes that sign the URL
	// need it.
	PublicURL string
	// TimestampHeader [timestamp_header] is the hmac scheme's header holding a signed Unix
	// timestamp in seconds; SignedContent must then contain {timestamp}.
	TimestampHeader string
	// SignedContent [signed_content] is the hmac scheme's template of the signed bytes,
	// with the placeholders {body} (exactly once), {timestamp} and {id}, e.g.
	// "{timestamp}.{body}"; "" means the body alone.
	SignedContent string
	// PublicKey [public_key] verifies asymmetric schemes (discord: hex Ed25519; sendgrid:
	// base64 or PEM ECDSA P-256).
	PublicKey string
}

// DefaultTolerance is how far a signed timestamp may lie from now, either way, when
// Options.Tolerance is 0.
const DefaultTolerance = 5 * time.Minute

// New builds the verifier of a scheme: "github", "hmac" (algorithm from Options),
// "hmac-sha1", "hmac-sha256", "hmac-sha512" (algorithm fixed by the name), or "none"
// (accepts every request; a config must name it explicitly). Schemes lists them all.
//
// An unusable configuration yields a *FieldError naming the option's config key and
// wrapping ErrUnknownScheme (field "verify"), ErrNoSecret (field "secrets": none given, or
// one empty) or ErrInvalidOption (a required option missing, a bad value, or an option the
// scheme does not use).
func New(scheme string, o Options) (Verifier, error) {
	build, ok := schemes[scheme]
	if !ok {
		return nil, fieldErr("verify", ErrUnknownScheme, "%q (known: %s)", scheme, strings.Join(Schemes(), ", "))
	}
	v, err := build(scheme, o)
	if err != nil {
		return nil, err // never a typed nil inside a non-nil Verifier
	}
	return v, nil
}

// builder makes the verifier of one scheme; scheme is the name it was registered under.
type builder func(scheme string, o Options) (Verifier, error)

// schemes maps each scheme name to its builder; every scheme file registers its own in an
// init function, so adding a sender is one new file.
var schemes = map[string]builder{}

// register adds a scheme under one or more names. It panics on a name registered twice,
// a programming error.
func register(build builder, names ...string) {
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

// optionKeys are the config keys of Options, in field order, each with a test of whether
// it is set.
var optionKeys = []struct {
	key string
	set func(o *Options) bool
}{
	{"secrets", func(o *Options) bool { return len(o.Secrets) > 0 }},
	{"header", func(o *Options) bool { return o.Header != "" }},
	{"prefix", func(o *Options) bool { return o.Prefix != "" }},
	{"encoding", func(o *Options) bool { return o.Encoding != "" }},
	{"algorithm", func(o *Options) bool { return o.Algorithm != "" }},
	{"id_header", func(o *Options) bool { return o.IDHeader != "" }},
	{"event_header", func(o *Options) bool { return o.EventHeader != "" }},
	{"event", func(o *Options) bool { return o.Event != "" }},
	{"tolerance", func(o *Options) bool { return o.Tolerance != 0 }},
	{"allow_sha1", func(o *Options) bool { return o.AllowSHA1 }},
	{"allow_legacy", func(o *Options) bool { return o.AllowLegacy }},
	{"public_url", func(o *Options) bool { return o.PublicURL != "" }},
	{"timestamp_header", func(o *Options) bool { return o.TimestampHeader != "" }},
	{"signed_content", func(o *Options) bool { return o.SignedContent != "" }},
	{"public_key", func(o *Options) bool { return o.PublicKey != "" }},
}

// onlyOptions refuses, as a *FieldError wrapping ErrInvalidOption, the first option that o
// sets and that is not among the keys the scheme uses.
func onlyOptions(scheme string, o *Options, used ...string) error {
	for _, k := range optionKeys {
		if k.set(o) && !slices.Contains(used, k.key) {
			return fieldErr(k.key, ErrInvalidOption, "not used by scheme %q", scheme)
		}
	}
	return nil
}

// headerName checks that an option naming a header holds an HTTP field name (RFC 9110
// token characters). An empty name is left to the caller.
func headerName(field, name string) error {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return fieldErr(field, ErrInvalidOption, "%q is not a header name", name)
		}
	}
	return nil
}

// keyring holds the secrets of a source, each already turned into keyed MAC state: one
// pool per secret, so the request path only resets and reuses a MAC that hashed its key at
// start-up. It is safe for concurrent use.
type keyring struct {
	pools []sync.Pool // pools[i] holds *macState keyed with secret i
	size  int         // length of a MAC in bytes
}

// macState is a keyed MAC with room for its sum, pooled together so that computing a MAC
// allocates nothing.
type macState struct {
	mac hash.Hash
	sum [maxMAC]byte
}

// maxMAC is the longest MAC of any algorithm offered (HMAC-SHA512).
const maxMAC = sha512.Size

// newKeyring keys the hash h with every secret. It returns a *FieldError (field
// "secrets") wrapping ErrNoSecret when there is no secret or one is empty; the error
// names the secret by position only.
func newKeyring(secrets []string, h func() hash.Hash) (*keyring, error) {
	if len(secrets) == 0 {
		return nil, fieldErr("secrets", ErrNoSecret, "at least one secret is required")
	}
	k := &keyring{pools: make([]sync.Pool, len(secrets)), size: h().Size()}
	for i, s := range secrets {
		if s == "" {
			return nil, fieldErr("secrets", ErrNoSecret, "secret %d is empty", i)
		}
		key := []byte(s)
		k.pools[i].New = func() any { return &macState{mac: hmac.New(h, key)} }
	}
	return k, nil
}

// each computes, secret by secret, the MAC of the concatenated parts and calls fn with it
// until fn returns true; it reports whether one did. The MAC passed to fn is valid only
// during the call. Each secret costs one pass over the parts, however many signatures fn
// compares against.
func (k *keyring) each(fn func(mac []byte) bool, parts ...[]byte) bool {
	for i := range k.pools {
		st := k.pools[i].Get().(*macState)
		st.mac.Reset()
		for _, p := range parts {
			st.mac.Write(p)
		}
		ok := fn(st.mac.Sum(st.sum[:0]))
		k.pools[i].Put(st)
		if ok {
			return true
		}
	}
	return false
}

// match reports whether sig is the MAC of the concatenated parts under any secret. Every
// comparison is constant-time.
func (k *keyring) match(sig []byte, parts ...[]byte) bool {
	if len(sig) != k.size {
		return false
	}
	return k.each(func(mac []byte) bool { return hmac.Equal(mac, sig) }, parts...)
}

// hashFor returns the hash of an algorithm name; "" is sha256.
func hashFor(alg string) (func() hash.Hash, bool) {
	switch alg {
	case "sha1":
		return sha1.New, true
	case "sha256", "":
		return sha256.New, true
	case "sha512":
		return sha512.New, true
	}
	return nil, false
}

// decodeHex decodes the hex digits s, in either case, into dst and returns the bytes
// written; ok is false when s is not an even number of hex digits or does not fit dst.
// Unlike hex.DecodeString it allocates nothing.
func decodeHex(dst []byte, s string) (b []byte, ok bool) {
	if len(s)%2 != 0 || len(s)/2 > len(dst) {
		return nil, false
	}
	for i := 0; i < len(s); i += 2 {
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		dst[i/2] = hi<<4 | lo
	}
	return dst[:len(s)/2], true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// maxBase64 is the longest base64 text decodeBase64 accepts: a maxMAC-byte MAC, unpadded.
const maxBase64 = (maxMAC*8 + 5) / 6

// decodeBase64 decodes s in the standard or the URL-safe alphabet, padded or not, into dst
// and returns the bytes written; ok is false when s is not base64 or does not fit dst.
func decodeBase64(dst []byte, s string) (b []byte, ok bool) {
	s = strings.TrimRight(s, "=")
	if len(s) > maxBase64 || base64.RawStdEncoding.DecodedLen(len(s)) > len(dst) {
		return nil, false
	}
	// The decoder wants bytes: copy into a stack buffer rather than convert (which would
	// allocate).
	var src [maxBase64]byte
	n := copy(src[:], s)
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	m, err := enc.Decode(dst, src[:n])
	if err != nil {
		return nil, false
	}
	return dst[:m], true
}

// parseUnix reads a Unix timestamp in whole seconds, as timestamp headers carry it.
func parseUnix(s string) (time.Time, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// checkTimestamp refuses ts, with an error wrapping ErrStaleTimestamp, when it lies
// further than tol from now in either direction; tol 0 (or less) means DefaultTolerance.
// Schemes call it only after the signature over the timestamp proved genuine.
func checkTimestamp(now, ts time.Time, tol time.Duration) error {
	if tol <= 0 {
		tol = DefaultTolerance
	}
	switch d := now.Sub(ts); {
	case d > tol:
		return fmt.Errorf("%w: %s old, tolerance %s", ErrStaleTimestamp, d.Truncate(time.Second), tol)
	case d < -tol:
		return fmt.Errorf("%w: %s ahead, tolerance %s", ErrStaleTimestamp, (-d).Truncate(time.Second), tol)
	}
	return nil
}
