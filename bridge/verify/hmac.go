package verify

import (
	"crypto/hmac"
	"strings"
	"time"
)

func init() {
	register(func(scheme string, o Options) (Verifier, error) { return newHMAC(scheme, o) },
		"hmac", "hmac-sha1", "hmac-sha256", "hmac-sha512")
}

// hmacOptions are the options the generic HMAC scheme uses.
var hmacOptions = []string{"secrets", "header", "prefix", "encoding", "algorithm", "id_header",
	"event_header", "event", "tolerance", "timestamp_header", "signed_content"}

// sigSeparators separate the signatures of a header that carries several.
const sigSeparators = ", \t"

// generic verifies a configurable HMAC: a header holding the prefix and the encoded MAC of
// the body (or of a template around it) under one of the secrets.
type generic struct {
	name      string // "hmac-sha256" and the like
	keys      *keyring
	header    string
	prefix    string
	base64    bool
	content   []segment // signed bytes; nil means the body alone
	tsHeader  string    // "" unless the content signs a timestamp
	tolerance time.Duration
	signsID   bool // content has {id}: the id header is required
	ids       fields

	errMissing, errNoTS, errMalformedTS, errNoID error // built once per verifier (see reqErr)
}

var _ Verifier = (*generic)(nil)

// Rejections of the generic scheme that name no header, built once.
var (
	errHMACEncoding = reqErr(ErrInvalidSignature, "no signature with the configured prefix, encoding and length")
	errHMACMismatch = reqErr(ErrInvalidSignature, "no configured secret produces any of the signatures")
)

// newHMAC builds scheme "hmac" (algorithm from o.Algorithm, default sha256) or
// "hmac-<algorithm>" (o.Algorithm, when set, must agree).
func newHMAC(scheme string, o Options) (*generic, error) {
	if err := onlyOptions(scheme, &o, hmacOptions...); err != nil {
		return nil, err
	}
	alg := o.Algorithm
	if fixed, ok := strings.CutPrefix(scheme, "hmac-"); ok {
		if alg != "" && alg != fixed {
			return nil, fieldErr("algorithm", ErrInvalidOption, "%q contradicts scheme %q", alg, scheme)
		}
		alg = fixed
	}
	if alg == "" {
		alg = "sha256"
	}
	h, ok := hashFor(alg)
	if !ok {
		return nil, fieldErr("algorithm", ErrInvalidOption, "%q (want sha1, sha256 or sha512)", alg)
	}
	if o.Header == "" {
		return nil, fieldErr("header", ErrInvalidOption, "required for scheme %q", scheme)
	}
	if err := headerName("header", o.Header); err != nil {
		return nil, err
	}
	if err := checkPrefix(o.Prefix); err != nil {
		return nil, err
	}
	g := &generic{name: "hmac-" + alg, header: o.Header, prefix: o.Prefix, tsHeader: o.TimestampHeader}
	switch o.Encoding {
	case "", "hex":
	case "base64":
		g.base64 = true
	default:
		return nil, fieldErr("encoding", ErrInvalidOption, "%q (want hex or base64)", o.Encoding)
	}
	var err error
	if g.ids, err = newFields(o); err != nil {
		return nil, err
	}
	if err := g.signedContent(o); err != nil {
		return nil, err
	}
	if g.keys, err = newKeyring(o.Secrets, h); err != nil {
		return nil, err
	}
	g.errMissing = reqErr(ErrMissingSignature, "no "+o.Header+" header")
	if g.tsHeader != "" {
		g.errNoTS = reqErr(ErrMissingSignature, "no "+o.TimestampHeader+" header")
		g.errMalformedTS = reqErr(ErrMalformed, o.TimestampHeader+" is not a Unix time in seconds")
	}
	if g.signsID {
		g.errNoID = reqErr(ErrMalformed, "no "+o.IDHeader+" header")
	}
	return g, nil
}

// checkPrefix refuses a prefix that cannot be found in a header: control bytes, or a
// separator at its start (separators around signatures are skipped).
func checkPrefix(p string) error {
	if p != "" && strings.IndexByte(sigSeparators, p[0]) >= 0 {
		return fieldErr("prefix", ErrInvalidOption, "%q starts with a separator (comma or space)", p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < ' ' || p[i] == 0x7f {
			return fieldErr("prefix", ErrInvalidOption, "%q holds a control character", p)
		}
	}
	return nil
}

// segment is one piece of the signed content: literal text or a placeholder.
type segment struct {
	kind segmentKind
	text []byte // the literal, for segLiteral
}

type segmentKind uint8

const (
	segLiteral segmentKind = iota
	segBody
	segTimestamp
	segID
)

// signedContent parses o.SignedContent and checks it against the timestamp and id options.
func (g *generic) signedContent(o Options) error {
	if o.Tolerance < 0 {
		return fieldErr("tolerance", ErrInvalidOption, "%q (want a positive duration)", o.Tolerance.String())
	}
	if o.Tolerance != 0 && o.TimestampHeader == "" {
		return fieldErr("tolerance", ErrInvalidOption, "needs timestamp_header")
	}
	g.tolerance = o.Tolerance
	if err := headerName("timestamp_header", o.TimestampHeader); err != nil {
		return err
	}
	if o.SignedContent == "" {
		if o.TimestampHeader != "" {
			return fieldErr("timestamp_header", ErrInvalidOption, "not signed: signed_content must contain {timestamp}")
		}
		return nil
	}
	var bodies, stamps int
	for tpl := o.SignedContent; tpl != ""; {
		open := strings.IndexByte(tpl, '{')
		if open < 0 {
			g.content = append(g.content, segment{kind: segLiteral, text: []byte(tpl)})
			break
		}
		if open > 0 {
			g.content = append(g.content, segment{kind: segLiteral, text: []byte(tpl[:open])})
		}
		end := strings.IndexByte(tpl[open:], '}')
		if end < 0 {
			return fieldErr("signed_content", ErrInvalidOption, "%q has an unclosed {", o.SignedContent)
		}
		name := tpl[open : open+end+1]
		switch name {
		case "{body}":
			bodies++
			g.content = append(g.content, segment{kind: segBody})
		case "{timestamp}":
			stamps++
			g.content = append(g.content, segment{kind: segTimestamp})
		case "{id}":
			g.signsID = true
			g.content = append(g.content, segment{kind: segID})
		default:
			return fieldErr("signed_content", ErrInvalidOption, "unknown placeholder %q (want {body}, {timestamp}, {id})", name)
		}
		tpl = tpl[open+end+1:]
	}
	switch {
	case bodies != 1:
		return fieldErr("signed_content", ErrInvalidOption, "%q must contain {body} exactly once", o.SignedContent)
	case stamps > 0 && o.TimestampHeader == "":
		return fieldErr("signed_content", ErrInvalidOption, "{timestamp} needs timestamp_header")
	case stamps == 0 && o.TimestampHeader != "":
		return fieldErr("timestamp_header", ErrInvalidOption, "not signed: signed_content must contain {timestamp}")
	case g.signsID && o.IDHeader == "":
		return fieldErr("signed_content", ErrInvalidOption, "{id} needs id_header")
	}
	return nil
}

// Scheme returns "hmac-" and the algorithm, e.g. "hmac-sha256", also for a verifier
// configured as "hmac".
func (g *generic) Scheme() string { return g.name }

// Verify accepts the request when the signature header holds, after the prefix, the MAC
// of the body under any configured secret, hex (either case) or base64 (standard or
// URL-safe alphabet, padding optional) encoded as configured. A header may carry several
// signatures separated by commas or spaces (senders do that while rotating their own
// keys); one match is enough, and each secret's MAC is computed once however many there
// are.
//
// With signed_content the MAC covers that template instead, its placeholders filled with
// the raw body, the timestamp header's text and the id header's text; a signed timestamp
// must then lie within the tolerance of the request's clock.
//
// The delivery id comes from id_header (none without it), the event from event_header,
// else the event option, else "webhook".
//
// Errors: ErrMissingSignature (no signature header, or no signed timestamp header),
// ErrInvalidSignature (no signature with the prefix, encoding and length, or no secret
// matches), ErrMalformed (a signed timestamp that is not a Unix time in seconds, a signed
// id header missing), ErrStaleTimestamp (genuine, but outside the tolerance).
func (g *generic) Verify(r *Request) (Result, error) {
	sigs := r.Header(g.header)
	if sigs == "" {
		return Result{}, g.errMissing
	}
	if !g.scan(sigs, nil) { // nothing decodes: spare the MACs
		return Result{}, errHMACEncoding
	}
	match := func(mac []byte) bool { return g.scan(sigs, mac) }
	if g.content == nil {
		if !g.keys.each(match, r.Body) {
			return Result{}, errHMACMismatch
		}
		return g.ids.result(r), nil
	}

	var stamp, id string
	var ts time.Time
	if g.tsHeader != "" {
		if stamp = r.Header(g.tsHeader); stamp == "" {
			return Result{}, g.errNoTS
		}
		var ok bool
		if ts, ok = parseUnix(stamp); !ok {
			return Result{}, g.errMalformedTS
		}
	}
	if g.signsID {
		if id = r.Header(g.ids.idHeader); id == "" {
			return Result{}, g.errNoID
		}
	}
	// The header texts go to the MAC from a pooled buffer (converting them would
	// allocate); the body goes as it is, never copied.
	sb := getSignBuf()
	defer putSignBuf(sb)
	sb.b = append(append(sb.b, stamp...), id...)
	stampBytes, idBytes := sb.b[:len(stamp)], sb.b[len(stamp):]
	var buf [8][]byte
	parts := buf[:0]
	for _, s := range g.content {
		switch s.kind {
		case segLiteral:
			parts = append(parts, s.text)
		case segBody:
			parts = append(parts, r.Body)
		case segTimestamp:
			parts = append(parts, stampBytes)
		case segID:
			parts = append(parts, idBytes)
		}
	}
	if !g.keys.each(match, parts...) {
		return Result{}, errHMACMismatch
	}
	if g.tsHeader != "" {
		if err := checkTimestamp(r.now(), ts, g.tolerance); err != nil {
			return Result{}, err
		}
	}
	return g.ids.result(r), nil
}

// scan walks the signatures in the header value sigs: each must start with the prefix and
// decode to a MAC of the right length; others are skipped. With mac nil it reports whether
// there is any such signature, else whether one equals mac (compared in constant time).
func (g *generic) scan(sigs string, mac []byte) bool {
	var buf [maxMAC]byte
	for {
		sigs = strings.TrimLeft(sigs, sigSeparators)
		if sigs == "" {
			return false
		}
		rest, ok := strings.CutPrefix(sigs, g.prefix)
		if !ok {
			rest = sigs // skip this one
		}
		one := rest
		sigs = ""
		if i := strings.IndexAny(rest, sigSeparators); i >= 0 {
			one, sigs = rest[:i], rest[i:]
		}
		if !ok {
			continue
		}
		var sig []byte
		if g.base64 {
			sig, ok = decodeBase64(buf[:], one)
		} else {
			sig, ok = decodeHex(buf[:], one)
		}
		if !ok || len(sig) != g.keys.size {
			continue
		}
		if mac == nil || hmac.Equal(sig, mac) {
			return true
		}
	}
}

// fields are where the hmac and none schemes find the delivery id and the event type.
type fields struct {
	idHeader    string
	eventHeader string
	event       string
}

// newFields reads id_header, event_header and event; event defaults to "webhook".
func newFields(o Options) (fields, error) {
	if err := headerName("id_header", o.IDHeader); err != nil {
		return fields{}, err
	}
	if err := headerName("event_header", o.EventHeader); err != nil {
		return fields{}, err
	}
	f := fields{idHeader: o.IDHeader, eventHeader: o.EventHeader, event: o.Event}
	if f.event == "" {
		f.event = "webhook"
	}
	return f, nil
}

func (f fields) result(r *Request) Result {
	res := Result{Event: f.event}
	if f.idHeader != "" {
		res.DeliveryID = r.Header(f.idHeader)
	}
	if f.eventHeader != "" {
		if e := r.Header(f.eventHeader); e != "" {
			res.Event = e
		}
	}
	return res
}
