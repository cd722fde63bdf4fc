package sign

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/hookbus/hookbus/bridge/verify"
)

func init() {
	register(func(scheme string, o verify.Options) (Signer, error) {
		secret, err := firstSecret(o)
		if err != nil {
			return nil, err
		}
		alg := o.Algorithm
		if fixed, ok := strings.CutPrefix(scheme, "hmac-"); ok {
			alg = fixed
		}
		return hmacSigner{p: HMACParams{
			Secret:          secret,
			Algorithm:       alg,
			Header:          o.Header,
			Prefix:          o.Prefix,
			Encoding:        o.Encoding,
			IDHeader:        o.IDHeader,
			EventHeader:     o.EventHeader,
			TimestampHeader: o.TimestampHeader,
			SignedContent:   o.SignedContent,
		}}, nil
	}, "hmac", "hmac-sha1", "hmac-sha256", "hmac-sha512")
}

// HMACParams describe a generic HMAC sender; the fields mirror the hmac scheme's options
// of package verify.
type HMACParams struct {
	Secret    string
	Algorithm string // "sha1", "sha256" (also for "") or "sha512"
	Header    string // signature header, e.g. "X-Signature"; required
	Prefix    string // written before the encoded MAC, e.g. "sha256="
	Encoding  string // "hex" (also for "") or "base64" (standard alphabet, padded)
	// IDHeader receives the request's delivery id, EventHeader its event type; each is
	// skipped when "".
	IDHeader    string
	EventHeader string
	// TimestampHeader receives the Unix time in seconds that SignedContent signs.
	TimestampHeader string
	// SignedContent is the template of the signed bytes with {body}, {timestamp} and {id};
	// "" signs the body alone.
	SignedContent string
}

// HMAC signs r as a generic HMAC sender configured by p: the header p.Header holds p.Prefix
// and the MAC of the body (or of p.SignedContent filled in) under p.Secret, hex or base64
// encoded. The delivery id, the event type and the timestamp go to their headers when p
// names them. It returns an error wrapping ErrOptions for an unknown algorithm or
// encoding, a missing header name or secret, or a template that needs an id or a
// timestamp header that p does not give, and ErrEvent for an event or id that cannot be
// sent in a header.
func HMAC(p HMACParams, r *Request) error {
	h, err := hashOf(p.Algorithm)
	if err != nil {
		return err
	}
	if p.Secret == "" || p.Header == "" {
		return fmt.Errorf("%w: hmac needs a secret and a signature header", ErrOptions)
	}
	if p.Encoding != "" && p.Encoding != "hex" && p.Encoding != "base64" {
		return fmt.Errorf("%w: encoding %q (want hex or base64)", ErrOptions, p.Encoding)
	}
	hd := r.header()
	stamp := strconv.FormatInt(r.now().Unix(), 10)
	mac := hmac.New(h, []byte(p.Secret))
	if p.SignedContent == "" {
		mac.Write(r.Body)
	} else if err := fill(mac, p, r, stamp); err != nil {
		return err
	}
	sum := mac.Sum(nil)
	enc := hex.EncodeToString(sum)
	if p.Encoding == "base64" {
		enc = base64.StdEncoding.EncodeToString(sum)
	}
	hd.Set(p.Header, p.Prefix+enc)
	if p.TimestampHeader != "" {
		hd.Set(p.TimestampHeader, stamp)
	}
	if p.IDHeader != "" && r.DeliveryID != "" {
		if err := headerValue("delivery id", r.DeliveryID); err != nil {
			return err
		}
		hd.Set(p.IDHeader, r.DeliveryID)
	}
	if p.EventHeader != "" && r.Event != "" {
		if err := headerValue("event", r.Event); err != nil {
			return err
		}
		hd.Set(p.EventHeader, r.Event)
	}
	if hd.Get("Content-Type") == "" {
		hd.Set("Content-Type", "application/json")
	}
	return nil
}

// fill writes the signed content template to mac, its placeholders replaced.
func fill(mac hash.Hash, p HMACParams, r *Request, stamp string) error {
	for tpl := p.SignedContent; tpl != ""; {
		open := strings.IndexByte(tpl, '{')
		if open < 0 {
			mac.Write([]byte(tpl))
			return nil
		}
		mac.Write([]byte(tpl[:open]))
		end := strings.IndexByte(tpl[open:], '}')
		if end < 0 {
			return fmt.Errorf("%w: signed_content %q has an unclosed {", ErrOptions, p.SignedContent)
		}
		switch name := tpl[open : open+end+1]; name {
		case "{body}":
			mac.Write(r.Body)
		case "{timestamp}":
			if p.TimestampHeader == "" {
				return fmt.Errorf("%w: {timestamp} needs a timestamp header", ErrOptions)
			}
			mac.Write([]byte(stamp))
		case "{id}":
			if p.IDHeader == "" || r.DeliveryID == "" {
				return fmt.Errorf("%w: {id} needs an id header and a delivery id", ErrOptions)
			}
			mac.Write([]byte(r.DeliveryID))
		default:
			return fmt.Errorf("%w: unknown placeholder %q in signed_content", ErrOptions, name)
		}
		tpl = tpl[open+end+1:]
	}
	return nil
}

func hashOf(alg string) (func() hash.Hash, error) {
	switch alg {
	case "sha1":
		return sha1.New, nil
	case "sha256", "":
		return sha256.New, nil
	case "sha512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("%w: algorithm %q (want sha1, sha256 or sha512)", ErrOptions, alg)
}

type hmacSigner struct{ p HMACParams }

func (s hmacSigner) Scheme() string {
	alg := s.p.Algorithm
	if alg == "" {
		alg = "sha256"
	}
	return "hmac-" + alg
}

func (s hmacSigner) Payload(_ string, data []byte) ([]byte, error) { return data, nil }

func (s hmacSigner) Sign(r *Request) error { return HMAC(s.p, r) }
