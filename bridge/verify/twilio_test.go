package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
)

// twilioSign is the signature of a request as Twilio's documentation describes it: the URL,
// then each parameter name and value, sorted by name and then value.
func twilioSign(token, fullURL string, params [][2]string) string {
	params = slices.Clone(params)
	slices.SortFunc(params, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	s := fullURL
	for _, p := range params {
		s += p[0] + p[1]
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// twilioBody encodes params as a form body, in their order.
func twilioBody(params [][2]string) []byte {
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p[0]) + "=" + url.QueryEscape(p[1]))
	}
	return []byte(b.String())
}

// twilioRequest is a request to public_url + query.
func twilioRequest(body []byte, query string, kv ...string) *Request {
	return &Request{Method: "POST", RequestURI: "/webhooks/twilio" + query, Body: body, Header: headers(kv...)}
}

// TestTwilioVectors verifies the published Twilio signatures (see
// testdata/twilio/README.md for their source).
func TestTwilioVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/twilio/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Name, Token, URL, JSON, Signature string
		Params                            [][2]string
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != 7 {
		t.Fatalf("%d vectors, want 7", len(vectors))
	}
	for _, vec := range vectors {
		t.Run(vec.Name, func(t *testing.T) {
			public, query, _ := strings.Cut(vec.URL, "?")
			v := mustNew(t, "twilio", Options{Secrets: []string{vec.Token}, PublicURL: public})
			body := twilioBody(vec.Params)
			ct := "application/x-www-form-urlencoded"
			if vec.JSON != "" {
				body, ct = []byte(vec.JSON), "application/json"
			}
			r := twilioRequest(body, "?"+query, twilioSig, vec.Signature, "Content-Type", ct)
			if _, err := v.Verify(r); err != nil {
				t.Fatalf("published vector refused: %v", err)
			}
			r.Body = append(bytes.Clone(body), []byte("&x=1")...)
			if _, err := v.Verify(r); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("tampered vector: err = %v", err)
			}
		})
	}
}

func TestTwilio(t *testing.T) {
	const k1, k2 = "auth-token-primary", "auth-token-secondary"
	const public = "https://hooks.example.com/webhooks/twilio"
	const query = "?source=sms"
	params := [][2]string{
		{"MessageSid", "SM0123456789abcdef0123456789abcdef"}, {"MessageStatus", "delivered"},
		{"To", "+15558675310"}, {"From", "+15017122661"}, {"Body", "Hello, café & friends"}, {"SmsStatus", "delivered"},
	}
	body := twilioBody(params)
	good := twilioSign(k1, public+query, params)
	flipped := bytes.Clone(body)
	flipped[len(flipped)-3] ^= 1
	jsonBody := []byte(`{"event":"x"}`)
	jsonHash := sha256.Sum256(jsonBody)
	jsonQuery := query + "&bodySHA256=" + hex.EncodeToString(jsonHash[:])
	jsonSig := twilioSign(k1, public+jsonQuery, nil)
	base := Options{Secrets: []string{k1, k2}, PublicURL: public}
	tests := []struct {
		name  string
		o     Options
		body  []byte
		query string
		kv    []string
		err   error
	}{
		{"genuine", base, body, query, []string{twilioSig, good}, nil},
		{"rotated secret", base, body, query, []string{twilioSig, twilioSign(k2, public+query, params)}, nil},
		{"wrong secret", base, body, query, []string{twilioSig, twilioSign("other", public+query, params)}, ErrInvalidSignature},
		{"flipped body byte", base, flipped, query, []string{twilioSig, good}, ErrInvalidSignature},
		{"parameters reordered", base, twilioBody(slices.Concat(params[3:], params[:3])), query, []string{twilioSig, good}, nil},
		{"parameter added", base, append(bytes.Clone(body), "&Extra=1"...), query, []string{twilioSig, good}, ErrInvalidSignature},
		{"empty fields skipped", base, append(append([]byte("&"), body...), '&'), query, []string{twilioSig, good}, nil},
		{"query changed", base, body, "?source=mms", []string{twilioSig, good}, ErrInvalidSignature},
		{"query dropped", base, body, "", []string{twilioSig, good}, ErrInvalidSignature},
		{"signed with default port", base, body, query, []string{twilioSig, twilioSign(k1, "https://hooks.example.com:443/webhooks/twilio"+query, params)}, nil},
		{"signed with another port", base, body, query, []string{twilioSig, twilioSign(k1, "https://hooks.example.com:8443/webhooks/twilio"+query, params)}, ErrInvalidSignature},
		{"signed over http", base, body, query, []string{twilioSig, twilioSign(k1, "http://hooks.example.com/webhooks/twilio"+query, params)}, ErrInvalidSignature},
		{"missing header", base, body, query, nil, ErrMissingSignature},
		{"malformed header", base, body, query, []string{twilioSig, "%%%" + good[3:]}, ErrInvalidSignature},
		{"hex where base64", base, body, query, []string{twilioSig, strings.Repeat("ab", 20)}, ErrInvalidSignature},
		{"sha256 length", base, body, query, []string{twilioSig, base64.StdEncoding.EncodeToString(make([]byte, 32))}, ErrInvalidSignature},
		{"broken form escape", base, []byte("Body=%zz"), query, []string{twilioSig, twilioSign(k1, public+query, [][2]string{{"Body", "%zz"}})}, ErrInvalidSignature},
		{"truncated form escape", base, []byte("Body=%2"), query, []string{twilioSig, twilioSign(k1, public+query, [][2]string{{"Body", "%2"}})}, ErrInvalidSignature},
		{"empty body", base, nil, query, []string{twilioSig, twilioSign(k1, public+query, nil)}, nil},
		{"json body", base, jsonBody, jsonQuery, []string{twilioSig, jsonSig, "Content-Type", "application/json"}, nil},
		{"json body uppercase hash", base, jsonBody, query + "&bodySHA256=" + strings.ToUpper(hex.EncodeToString(jsonHash[:])), []string{twilioSig, twilioSign(k1, public+query+"&bodySHA256="+strings.ToUpper(hex.EncodeToString(jsonHash[:])), nil)}, nil},
		{"json body flipped", base, []byte(`{"event":"y"}`), jsonQuery, []string{twilioSig, jsonSig}, ErrInvalidSignature},
		{"json body hash not hex", base, jsonBody, query + "&bodySHA256=zz", []string{twilioSig, twilioSign(k1, public+query+"&bodySHA256=zz", nil)}, ErrInvalidSignature},
		{"json body wrong secret", base, jsonBody, jsonQuery, []string{twilioSig, twilioSign("other", public+jsonQuery, nil)}, ErrInvalidSignature},
		{"json signature on form", base, body, jsonQuery, []string{twilioSig, jsonSig}, ErrInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "twilio", tt.o)
			before := bytes.Clone(tt.body)
			res, err := v.Verify(twilioRequest(tt.body, tt.query, tt.kv...))
			checkErr(t, err, tt.err, k1, k2, good)
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
			if err == nil && res.Reply != nil {
				t.Fatalf("result %+v", res)
			}
		})
	}
	if s := mustNew(t, "twilio", base).Scheme(); s != "twilio" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestTwilioResult covers the delivery id and event of verified deliveries.
func TestTwilioResult(t *testing.T) {
	const token, public = "t", "https://h.example.com/tw"
	v := mustNew(t, "twilio", Options{Secrets: []string{token}, PublicURL: public})
	tests := []struct {
		name      string
		params    [][2]string
		idem      string
		id, event string
	}{
		{"token wins", [][2]string{{"MessageSid", "SM1"}, {"MessageStatus", "sent"}}, "idem-1", "idem-1", "message.sent"},
		{"message status", [][2]string{{"MessageSid", "SM1"}, {"MessageStatus", "delivered"}, {"SmsStatus", "sent"}}, "", "SM1:delivered", "message.delivered"},
		{"inbound message", [][2]string{{"MessageSid", "SM2"}, {"SmsStatus", "received"}, {"Body", "hi"}}, "", "SM2:received", "message.received"},
		{"message without status", [][2]string{{"MessageSid", "SM3"}}, "", "SM3", "message"},
		{"call status", [][2]string{{"CallSid", "CA1"}, {"CallStatus", "completed"}}, "", "CA1:completed", "call.completed"},
		{"call without status", [][2]string{{"CallSid", "CA2"}}, "", "CA2", "call"},
		{"call with token", [][2]string{{"CallSid", "CA2"}, {"CallStatus", "ringing"}}, "idem-2", "idem-2", "call.ringing"},
		{"empty sid", [][2]string{{"MessageSid", ""}, {"CallSid", "CA3"}}, "", "CA3", "call"},
		{"neither", [][2]string{{"RecordingSid", "RE1"}}, "", "", "webhook"},
		{"neither with token", nil, "idem-3", "idem-3", "webhook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := twilioRequest(twilioBody(tt.params), "", twilioSig, twilioSign(token, public, tt.params), twilioIdempotency, tt.idem)
			res, err := v.Verify(r)
			if err != nil || res.DeliveryID != tt.id || res.Event != tt.event {
				t.Fatalf("Verify = %+v, %v; want id %q event %q", res, err, tt.id, tt.event)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		body := []byte(`{"MessageSid":"SM1"}`)
		h := sha256.Sum256(body)
		q := "?bodySHA256=" + hex.EncodeToString(h[:])
		r := twilioRequest(body, q, twilioSig, twilioSign(token, public+q, nil), twilioIdempotency, "idem-4")
		res, err := v.Verify(r)
		if err != nil || res.DeliveryID != "idem-4" || res.Event != "webhook" {
			t.Fatalf("Verify = %+v, %v", res, err)
		}
	})
	t.Run("request URL", func(t *testing.T) {
		params := [][2]string{{"CallSid", "CA9"}}
		r := twilioRequest(twilioBody(params), "?ignored=1", twilioSig, twilioSign(token, "https://other.example.com:443/x?y=1", params))
		r.URL = "https://other.example.com/x?y=1"
		if _, err := v.Verify(r); err != nil {
			t.Fatalf("Request.URL not used: %v", err)
		}
	})
}

func TestTwilioOtherPort(t *testing.T) {
	for in, want := range map[string]string{
		"https://h.example.com/x":       "https://h.example.com:443/x",
		"https://h.example.com:443/x":   "https://h.example.com/x",
		"https://h.example.com:8443/x":  "https://h.example.com/x",
		"http://h.example.com/x":        "http://h.example.com:80/x",
		"HTTP://h.example.com":          "HTTP://h.example.com:80",
		"https://h.example.com":         "https://h.example.com:443",
		"https://[2001:db8::1]/x":       "https://[2001:db8::1]:443/x",
		"https://[2001:db8::1]:8443/x":  "https://[2001:db8::1]/x",
		"https://h.example.com/a:b/c:d": "https://h.example.com:443/a:b/c:d",
		"not a url":                     "not a url",
	} {
		if got := twilioOtherPort(in); got != want {
			t.Errorf("twilioOtherPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTwilioNew covers the configuration errors of the scheme.
func TestTwilioNew(t *testing.T) {
	const secret = "twilio-token-never-shown"
	sec := []string{secret}
	const public = "https://hooks.example.com/webhooks/twilio"
	for _, tt := range []struct {
		name  string
		o     Options
		field string
		err   error
	}{
		{"no secret", Options{PublicURL: public}, "secrets", ErrNoSecret},
		{"empty secret", Options{Secrets: []string{""}, PublicURL: public}, "secrets", ErrNoSecret},
		{"no public_url", Options{Secrets: sec}, "public_url", ErrInvalidOption},
		{"public_url with query", Options{Secrets: sec, PublicURL: public + "?a=1"}, "public_url", ErrInvalidOption},
		{"no tolerance", Options{Secrets: sec, PublicURL: public, Tolerance: 1}, "tolerance", ErrInvalidOption},
		{"no allow_legacy", Options{Secrets: sec, PublicURL: public, AllowLegacy: true}, "allow_legacy", ErrInvalidOption},
		{"no id_header", Options{Secrets: sec, PublicURL: public, IDHeader: "X-Id"}, "id_header", ErrInvalidOption},
	} {
		t.Run(tt.name, func(t *testing.T) { checkFieldErr(t, "twilio", tt.o, tt.field, tt.err, secret) })
	}
}

// refTwilioParams decodes a form body as the standard library does; ok is false for
// bodies that url.ParseQuery reads differently from a plain split on '&' (semicolons,
// bad escapes).
func refTwilioParams(body []byte) ([][2]string, bool) {
	if bytes.ContainsAny(body, ";") {
		return nil, false
	}
	var out [][2]string
	for field := range strings.SplitSeq(string(body), "&") {
		if field == "" {
			continue
		}
		k, v, _ := strings.Cut(field, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		out = append(out, [2]string{dk, dv})
	}
	return out, true
}

// FuzzTwilio sends random signatures, queries and form bodies: Verify must never panic or
// modify the body, must accept only the signature of the URL and the decoded parameters,
// and must accept every body it can decode when genuinely signed.
func FuzzTwilio(f *testing.F) {
	const token, public = "fuzz-token", "https://h.example.com/tw"
	params := [][2]string{{"MessageSid", "SM1"}, {"Body", "a+b=c&d"}}
	f.Add(twilioBody(params), "?x=1", twilioSign(token, public+"?x=1", params))
	f.Add([]byte("a=%zz&b"), "", "AAAA")
	f.Add([]byte("&&=&a==b&+=%2B"), "?bodySHA256=00", "")
	f.Add([]byte(`{"a":1}`), "?bodySHA256=015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862", "====")
	v := mustNew(f, "twilio", Options{Secrets: []string{"other", token}, PublicURL: public})
	f.Fuzz(func(t *testing.T, body []byte, query, sig string) {
		if query != "" && query[0] != '?' {
			query = "?" + query
		}
		before := bytes.Clone(body)
		r := twilioRequest(body, query, twilioSig, sig)
		_, err := v.Verify(r)
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("error of no class: %v", err)
		}
		_, isJSON := twilioQueryValue(query, twilioBodySHA256)
		ref, refOK := refTwilioParams(body)
		if isJSON || !refOK || strings.ContainsAny(query, "\r\n\x00") {
			return
		}
		genuine := twilioSign(token, public+query, ref)
		if err == nil {
			got, derr := base64.StdEncoding.DecodeString(sig)
			if derr != nil {
				got, derr = base64.RawStdEncoding.DecodeString(strings.TrimRight(sig, "="))
			}
			if derr != nil {
				got, derr = base64.RawURLEncoding.DecodeString(strings.TrimRight(sig, "="))
			}
			want, _ := base64.StdEncoding.DecodeString(genuine)
			alt, _ := base64.StdEncoding.DecodeString(twilioSign(token, "https://h.example.com:443/tw"+query, ref))
			if derr != nil || !hmac.Equal(got, want) && !hmac.Equal(got, alt) {
				t.Fatalf("accepted %q, which is not the request's signature", sig)
			}
		}
		r.Header = headers(twilioSig, genuine)
		if _, err := v.Verify(r); err != nil {
			t.Fatalf("genuine request refused: %v", err)
		}
	})
}

// BenchmarkTwilio verifies a genuine form delivery of 1 KiB.
func BenchmarkTwilio(b *testing.B) {
	const token, public = "t", "https://hooks.example.com/webhooks/twilio"
	params := [][2]string{{"MessageSid", "SM0123456789abcdef0123456789abcdef"}, {"MessageStatus", "delivered"}, {"To", "+15558675310"}, {"From", "+15017122661"}, {"Body", ""}}
	params[4][1] = strings.Repeat("x", 1024-len(twilioBody(params)))
	body := twilioBody(params)
	v := mustNew(b, "twilio", Options{Secrets: []string{token}, PublicURL: public})
	h := pairs{twilioSig, twilioSign(token, public+"?a=1", params), twilioIdempotency, "idem"}
	r := &Request{Method: "POST", RequestURI: "/webhooks/twilio?a=1", Header: h.get, Body: body}
	if _, err := v.Verify(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
