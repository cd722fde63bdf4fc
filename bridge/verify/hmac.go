package verify

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// generic verifies a configurable HMAC: a header holding prefix + encoded MAC of the body.
type generic struct {
	keys   *keyring
	header string
	prefix string
	base64 bool
	ids    fields
}

// fields are where the hmac and none schemes find the delivery id and the event type.
type fields struct {
	idHeader    string
	eventHeader string
	event       string
}

func newFields(o Options) fields {
	f := fields{idHeader: o.IDHeader, eventHeader: o.EventHeader, event: o.Event}
	if f.event == "" {
		f.event = "webhook"
	}
	return f
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

func init() {
	register(func(scheme string, o Options) (Verifier, error) { return newHMAC(scheme, o) },
		"hmac", "hmac-sha1", "hmac-sha256", "hmac-sha512")
}

func newHMAC(scheme string, o Options) (*generic, error) {
	alg := o.Algorithm
	if s, ok := strings.CutPrefix(scheme, "hmac-"); ok {
		if alg != "" && alg != s {
			return nil, fieldErr("algorithm", ErrInvalidOption, "%q contradicts scheme %q", alg, scheme)
		}
		alg = s
	}
	h := hashFor(alg)
	if h == nil {
		return nil, fieldErr("algorithm", ErrInvalidOption, "%q (want sha1, sha256 or sha512)", alg)
	}
	if o.Header == "" {
		return nil, fieldErr("header", ErrInvalidOption, "required for scheme %q", scheme)
	}
	g := &generic{header: o.Header, prefix: o.Prefix, ids: newFields(o)}
	switch o.Encoding {
	case "", "hex":
	case "base64":
		g.base64 = true
	default:
		return nil, fieldErr("encoding", ErrInvalidOption, "%q (want hex or base64)", o.Encoding)
	}
	k, err := newKeyring("secrets", o.Secrets, h)
	if err != nil {
		return nil, err
	}
	g.keys = k
	return g, nil
}

func (g *generic) Scheme() string { return "hmac" }

// Verify accepts the request when the signature header holds, after the prefix, the MAC of
// the body under any configured secret. A header may carry several signatures separated by
// commas or spaces (senders do that while rotating); one match is enough.
func (g *generic) Verify(r *Request) (Result, error) {
	v := r.Header(g.header)
	if v == "" {
		return Result{}, ErrMissingSignature
	}
	for v != "" {
		var one string
		if i := strings.IndexAny(v, ", "); i >= 0 {
			one, v = v[:i], v[i+1:]
		} else {
			one, v = v, ""
		}
		if one == "" {
			continue
		}
		if g.check(one, r.Body) {
			return g.ids.result(r), nil
		}
	}
	return Result{}, ErrInvalidSignature
}

func (g *generic) check(sig string, body []byte) bool {
	enc, ok := strings.CutPrefix(sig, g.prefix)
	if !ok {
		return false
	}
	var buf [64]byte
	var n int
	var err error
	if g.base64 {
		enc = strings.TrimRight(enc, "=")
		if base64.RawStdEncoding.DecodedLen(len(enc)) != g.keys.size {
			return false
		}
		if strings.ContainsAny(enc, "-_") {
			n, err = base64.RawURLEncoding.Decode(buf[:], []byte(enc))
		} else {
			n, err = base64.RawStdEncoding.Decode(buf[:], []byte(enc))
		}
	} else {
		if len(enc) != 2*g.keys.size {
			return false
		}
		n, err = hex.Decode(buf[:], []byte(enc))
	}
	return err == nil && g.keys.match(buf[:n], body)
}
