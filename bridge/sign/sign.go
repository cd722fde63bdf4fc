package sign

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hookbus/hookbus/bridge/verify"
)

// Request is a webhook about to be sent. Sign fills Header; Body is sent unchanged.
type Request struct {
	// Header receives the scheme's headers; Sign creates it when nil.
	Header http.Header
	// Body is the payload, exactly as it will be sent and signed.
	Body []byte
	// Event is the event type as hookbus names it, dot-separated ("issues.opened"); the
	// scheme decides where it goes (a header, the payload).
	Event string
	// DeliveryID is the provider's delivery id, the bridge's dedupe key; "" sends none where
	// the scheme allows it.
	DeliveryID string
	// Now is the clock of signed timestamps; zero means time.Now().
	Now time.Time
}

func (r *Request) now() time.Time {
	if r.Now.IsZero() {
		return time.Now()
	}
	return r.Now
}

func (r *Request) header() http.Header {
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	return r.Header
}

// Signer signs requests of one configured source. Implementations are safe for concurrent
// use.
type Signer interface {
	// Scheme is the verify scheme the signer produces requests for, e.g. "github".
	Scheme() string
	// Payload returns the body to send for an event of type event carrying data, shaped as
	// the provider would shape it (GitHub puts the action in the payload); most schemes
	// return data unchanged. It returns an error wrapping ErrEvent when event and data
	// contradict each other.
	Payload(event string, data []byte) ([]byte, error)
	// Sign sets on r.Header the signature over r.Body and every other header the scheme's
	// verifier reads.
	Sign(r *Request) error
}

// builder makes the signer of one scheme from a source's options; scheme is the name it
// was registered under.
type builder func(scheme string, o verify.Options) (Signer, error)

var schemes = map[string]builder{}

// register adds a scheme under one or more names. It panics on a name registered twice, a
// programming error.
func register(build builder, names ...string) {
	for _, n := range names {
		if _, dup := schemes[n]; dup {
			panic("sign: scheme " + n + " registered twice")
		}
		schemes[n] = build
	}
}

// Schemes lists the scheme names New can sign for, sorted.
func Schemes() []string {
	names := make([]string, 0, len(schemes))
	for n := range schemes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New returns the signer of a source verified by scheme with options o. The options are
// first checked by verify.New, so a signer exists only for a configuration the bridge
// accepts. It signs with the first of o.Secrets (during a rotation, the bridge accepts
// every listed secret).
//
// Errors wrap ErrUnsupported (a scheme this package cannot sign) or ErrOptions (options
// the verifier refuses, which also wraps the verifier's error).
func New(scheme string, o verify.Options) (Signer, error) {
	build, ok := schemes[scheme]
	if !ok {
		return nil, fmt.Errorf("%w: %q (can sign: %s)", ErrUnsupported, scheme, strings.Join(Schemes(), ", "))
	}
	if _, err := verify.New(scheme, o); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return build(scheme, o)
}

// firstSecret returns the secret a signer uses.
func firstSecret(o verify.Options) (string, error) {
	if len(o.Secrets) == 0 || o.Secrets[0] == "" {
		return "", fmt.Errorf("%w: no secret to sign with", ErrOptions)
	}
	return o.Secrets[0], nil
}

// headerValue refuses a value that cannot be sent in an HTTP header: control bytes and
// bytes outside ASCII.
func headerValue(what, v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] >= 0x7f {
			return fmt.Errorf("%w: %s %q holds a byte an HTTP header cannot carry", ErrEvent, what, v)
		}
	}
	return nil
}
