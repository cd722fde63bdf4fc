package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hubSpotReplacer decodes the escapes HubSpot decodes before signing a v3 URI; a second
// implementation, for the tests.
var hubSpotReplacer = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$",
	"%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
	"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";",
)

// hubSpotV3 is the v3 signature of a request, computed as HubSpot's documentation says.
func hubSpotV3(secret, method, uri string, body []byte, ts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + hubSpotReplacer.Replace(uri)))
	m.Write(body)
	m.Write([]byte(ts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// hubSpotLegacy is the v1 (method and uri empty) or v2 signature of a request.
func hubSpotLegacy(secret, method, uri string, body []byte) string {
	s := sha256.Sum256(append([]byte(secret+method+uri), body...))
	return hex.EncodeToString(s[:])
}

// hubSpotVector is one case of testdata/hubspot/vectors.json.
type hubSpotVector struct {
	Name, Version, Secret, Method, URL, Body, Timestamp, Signature, Event string
}

// TestHubSpotVectors verifies the published HubSpot signatures and one derived for the URI
// decoding (see testdata/hubspot/README.md for their sources).
func TestHubSpotVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/hubspot/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []hubSpotVector
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != 7 {
		t.Fatalf("%d vectors, want 7", len(vectors))
	}
	for _, vec := range vectors {
		t.Run(vec.Name, func(t *testing.T) {
			public, query, _ := strings.Cut(vec.URL, "?")
			uri := "/webhooks/hubspot"
			if query != "" {
				uri += "?" + query
			}
			v := mustNew(t, "hubspot", Options{Secrets: []string{vec.Secret}, PublicURL: public, AllowLegacy: vec.Version != "v3"})
			r := &Request{Method: vec.Method, RequestURI: uri, Body: []byte(vec.Body)}
			if vec.Version == "v3" {
				ms, err := strconv.ParseInt(vec.Timestamp, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				r.Now = time.UnixMilli(ms).Add(time.Minute)
				r.Header = headers(hubSpotSigV3, vec.Signature, hubSpotTimestamp, vec.Timestamp)
			} else {
				r.Header = headers(hubSpotSig, vec.Signature, hubSpotVersion, vec.Version)
			}
			res, err := v.Verify(r)
			if err != nil {
				t.Fatalf("published vector refused: %v", err)
			}
			if vec.Event != "" && res.Event != vec.Event {
				t.Fatalf("event %q, want %q", res.Event, vec.Event)
			}
			// One byte more and it fails.
			r.Body = append([]byte(vec.Body), ' ')
			if _, err := v.Verify(r); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("tampered vector: err = %v", err)
			}
		})
	}
}

func TestHubSpot(t *testing.T) {
	const k1, k2 = "client-secret-new", "client-secret-old"
	const public = "https://hooks.example.com/webhooks/crm"
	const uri = "/webhooks/crm?portal=62515&return=https%3A%2F%2Fapp.example.com%2F"
	full := public + uri[len("/webhooks/crm"):]
	body := []byte(`[{"eventId":1,"subscriptionType":"contact.creation","attemptNumber":0},{"eventId":2,"subscriptionType":"deal.creation"}]`)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	ts := ms(-time.Second)
	good := hubSpotV3(k1, "POST", full, body, ts)
	flipped := bytes.Clone(body)
	flipped[10] ^= 1
	base := Options{Secrets: []string{k1, k2}, PublicURL: public}
	legacy := Options{Secrets: []string{k1, k2}, PublicURL: public, AllowLegacy: true}
	tight := Options{Secrets: []string{k1}, PublicURL: public, Tolerance: 30 * time.Second}
	v3 := func(sig, ts string) []string { return []string{hubSpotSigV3, sig, hubSpotTimestamp, ts} }
	tests := []struct {
		name   string
		o      Options
		method string
		uri    string
		body   []byte
		kv     []string
		err    error
	}{
		{"genuine", base, "POST", uri, body, v3(good, ts), nil},
		{"rotated secret", base, "POST", uri, body, v3(hubSpotV3(k2, "POST", full, body, ts), ts), nil},
		{"unpadded base64", base, "POST", uri, body, v3(strings.TrimRight(good, "="), ts), nil},
		{"wrong secret", base, "POST", uri, body, v3(hubSpotV3("other", "POST", full, body, ts), ts), ErrInvalidSignature},
		{"flipped body byte", base, "POST", uri, flipped, v3(good, ts), ErrInvalidSignature},
		{"query changed", base, "POST", "/webhooks/crm?portal=62516&return=https%3A%2F%2Fapp.example.com%2F", body, v3(good, ts), ErrInvalidSignature},
		{"query dropped", base, "POST", "/webhooks/crm", body, v3(good, ts), ErrInvalidSignature},
		{"method changed", base, "PUT", uri, body, v3(good, ts), ErrInvalidSignature},
		{"undecoded uri signed", base, "POST", uri, body, v3(hubSpotV3(k1, "POST", "", []byte(full+string(body)), ts), ts), ErrInvalidSignature},
		{"timestamp swapped", base, "POST", uri, body, v3(good, ms(-2*time.Second)), ErrInvalidSignature},
		{"missing header", base, "POST", uri, body, []string{hubSpotTimestamp, ts}, ErrMissingSignature},
		{"missing timestamp", base, "POST", uri, body, []string{hubSpotSigV3, good}, ErrMissingSignature},
		{"malformed header", base, "POST", uri, body, v3("!!"+good[2:], ts), ErrInvalidSignature},
		{"hex where base64", base, "POST", uri, body, v3(strings.Repeat("ab", 32), ts), ErrInvalidSignature},
		{"short signature", base, "POST", uri, body, v3(good[:20], ts), ErrInvalidSignature},
		{"timestamp not a number", base, "POST", uri, body, v3(good, ts[:len(ts)-3]+"x"), ErrMalformed},
		{"timestamp in seconds", base, "POST", uri, body, v3(hubSpotV3(k1, "POST", full, body, ts[:len(ts)-3]), ts[:len(ts)-3]), ErrStaleTimestamp},
		{"timestamp negative", base, "POST", uri, body, v3(hubSpotV3(k1, "POST", full, body, "-1"), "-1"), ErrMalformed},
		{"within tolerance", base, "POST", uri, body, v3(hubSpotV3(k1, "POST", full, body, ms(-4*time.Minute)), ms(-4*time.Minute)), nil},
		{"stale", base, "POST", uri, body, v3(hubSpotV3(k1, "POST", full, body, ms(-5*time.Minute-time.Second)), ms(-5*time.Minute-time.Second)), ErrStaleTimestamp},
		{"future", base, "POST", uri, body, v3(hubSpotV3(k1, "POST", full, body, ms(5*time.Minute+time.Second)), ms(5*time.Minute+time.Second)), ErrStaleTimestamp},
		{"stale and forged", base, "POST", uri, body, v3(hubSpotV3("x", "POST", full, body, ms(-time.Hour)), ms(-time.Hour)), ErrInvalidSignature},
		{"tolerance option", tight, "POST", uri, body, v3(hubSpotV3(k1, "POST", full, body, ms(-time.Minute)), ms(-time.Minute)), ErrStaleTimestamp},
		{"empty method is POST", base, "", uri, body, v3(good, ts), nil},
		{"legacy without allow_legacy", base, "POST", uri, body, []string{hubSpotSig, hubSpotLegacy(k1, "", "", body), hubSpotVersion, "v1"}, ErrMissingSignature},
		{"legacy v1", legacy, "POST", uri, body, []string{hubSpotSig, hubSpotLegacy(k1, "", "", body), hubSpotVersion, "v1"}, nil},
		{"legacy v1 rotated", legacy, "POST", uri, body, []string{hubSpotSig, hubSpotLegacy(k2, "", "", body), hubSpotVersion, "v1"}, nil},
		{"legacy v1 uppercase hex", legacy, "POST", uri, body, []string{hubSpotSig, strings.ToUpper(hubSpotLegacy(k1, "", "", body)), hubSpotVersion, "V1"}, nil},
		{"legacy v1 flipped body", legacy, "POST", uri, flipped, []string{hubSpotSig, hubSpotLegacy(k1, "", "", body), hubSpotVersion, "v1"}, ErrInvalidSignature},
		{"legacy v1 wrong secret", legacy, "POST", uri, body, []string{hubSpotSig, hubSpotLegacy("x", "", "", body), hubSpotVersion, "v1"}, ErrInvalidSignature},
		{"legacy v2", legacy, "POST", uri, body, []string{hubSpotSig, hubSpotLegacy(k1, "POST", public+uri[len("/webhooks/crm"):], body), hubSpotVersion, "v2"}, nil},
		{"legacy v2 is not decoded", legacy, "POST", uri, body, []string{hubSpotSig, hubSpotLegacy(k1, "POST", hubSpotReplacer.Replace(full), body), hubSpotVersion, "v2"}, ErrInvalidSignature},
		{"legacy v2 signed as v1", legacy, "POST", uri, body, []string{hubSpotSig, hubSpotLegacy(k1, "", "", body), hubSpotVersion, "v2"}, ErrInvalidSignature},
		{"legacy unknown version", legacy, "POST", uri, body, []string{hubSpotSig, hubSpotLegacy(k1, "", "", body), hubSpotVersion, "v4"}, ErrInvalidSignature},
		{"legacy no version", legacy, "POST", uri, body, []string{hubSpotSig, hubSpotLegacy(k1, "", "", body)}, ErrInvalidSignature},
		{"legacy malformed", legacy, "POST", uri, body, []string{hubSpotSig, "zz", hubSpotVersion, "v1"}, ErrInvalidSignature},
		{"legacy nothing sent", legacy, "POST", uri, body, nil, ErrMissingSignature},
		{"v3 wins over legacy", legacy, "POST", uri, body, append(v3(hubSpotV3("x", "POST", full, body, ts), ts), hubSpotSig, hubSpotLegacy(k1, "", "", body), hubSpotVersion, "v1"), ErrInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "hubspot", tt.o)
			before := bytes.Clone(tt.body)
			r := &Request{Method: tt.method, RequestURI: tt.uri, Body: tt.body, Header: headers(tt.kv...), Now: now}
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, k1, k2, good)
			if err == nil && (res.Event != "contact.creation" || res.DeliveryID != "" || res.Reply != nil) {
				t.Fatalf("result %+v", res)
			}
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
		})
	}
	if s := mustNew(t, "hubspot", base).Scheme(); s != "hubspot" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestHubSpotResult covers the event read from a verified body, and a caller that knows
// the request's public URL.
func TestHubSpotResult(t *testing.T) {
	const secret, public = "s", "https://h.example.com/x"
	now := time.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	v := mustNew(t, "hubspot", Options{Secrets: []string{secret}, PublicURL: public})
	for _, tt := range []struct{ name, body, event string }{
		{"batch", `[{"subscriptionType":"contact.propertyChange","eventId":5}]`, "contact.propertyChange"},
		{"batch with space", " [\n {\"eventId\":5, \"subscriptionType\":\"deal.deletion\"}]", "deal.deletion"},
		{"object", `{"subscriptionType":"ticket.creation"}`, "ticket.creation"},
		{"first element only", `[{"eventId":5},{"subscriptionType":"deal.deletion"}]`, "hubspot"},
		{"empty batch", `[]`, "hubspot"},
		{"not a string", `[{"subscriptionType":7}]`, "hubspot"},
		{"empty type", `[{"subscriptionType":""}]`, "hubspot"},
		{"not json", `subscriptionType=x`, "hubspot"},
		{"empty", ``, "hubspot"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Request{Method: "POST", RequestURI: "/webhooks/hs", Body: []byte(tt.body), Now: now,
				Header: headers(hubSpotSigV3, hubSpotV3(secret, "POST", public, []byte(tt.body), ts), hubSpotTimestamp, ts)}
			res, err := v.Verify(r)
			if err != nil || res.Event != tt.event || res.DeliveryID != "" {
				t.Fatalf("Verify = %+v, %v; want event %q", res, err, tt.event)
			}
		})
	}
	t.Run("request URL", func(t *testing.T) {
		body := []byte(`[]`)
		r := &Request{Method: "POST", URL: "https://other.example.com/y?a=%3A", RequestURI: "/webhooks/hs?b=2", Body: body, Now: now,
			Header: headers(hubSpotSigV3, hubSpotV3(secret, "POST", "https://other.example.com/y?a=:", body, ts), hubSpotTimestamp, ts)}
		if _, err := v.Verify(r); err != nil {
			t.Fatalf("Request.URL not used: %v", err)
		}
	})
	t.Run("zero clock", func(t *testing.T) {
		body := []byte(`[]`)
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		r := &Request{Method: "POST", RequestURI: "/webhooks/hs", Body: body,
			Header: headers(hubSpotSigV3, hubSpotV3(secret, "POST", public, body, ts), hubSpotTimestamp, ts)}
		if _, err := v.Verify(r); err != nil {
			t.Fatalf("zero Request.Now: %v", err)
		}
	})
}

func TestHubSpotUnescape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"https://h/x?a=1", "https://h/x?a=1"},
		{"%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B", ":/?@!$'()*,;"},
		{"%3a%2f%3f%2a%2c%3b", ":/?*,;"},
		{"%20%3D%26%25%2B%7E", "%20%3D%26%25%2B%7E"},
		{"%%3A", "%:"},
		{"%253A", "%253A"},
		{"%3", "%3"},
		{"a%", "a%"},
		{"%zz%3A", "%zz:"},
		{"100%", "100%"},
	} {
		if got := string(hubSpotUnescape(nil, tt.in)); got != tt.want || got != hubSpotReplacer.Replace(tt.in) {
			t.Errorf("hubSpotUnescape(%q) = %q, want %q (replacer %q)", tt.in, got, tt.want, hubSpotReplacer.Replace(tt.in))
		}
	}
}

// TestHubSpotNew covers the configuration errors of the scheme.
func TestHubSpotNew(t *testing.T) {
	const secret = "hubspot-secret-never-shown"
	sec := []string{secret}
	const public = "https://hooks.example.com/webhooks/hubspot"
	for _, tt := range []struct {
		name  string
		o     Options
		field string
		err   error
	}{
		{"no secret", Options{PublicURL: public}, "secrets", ErrNoSecret},
		{"empty secret", Options{Secrets: []string{secret, ""}, PublicURL: public}, "secrets", ErrNoSecret},
		{"no public_url", Options{Secrets: sec}, "public_url", ErrInvalidOption},
		{"relative public_url", Options{Secrets: sec, PublicURL: "/webhooks/hubspot"}, "public_url", ErrInvalidOption},
		{"ftp public_url", Options{Secrets: sec, PublicURL: "ftp://h/x"}, "public_url", ErrInvalidOption},
		{"public_url without host", Options{Secrets: sec, PublicURL: "https:///x"}, "public_url", ErrInvalidOption},
		{"opaque public_url", Options{Secrets: sec, PublicURL: "https:h/x"}, "public_url", ErrInvalidOption},
		{"public_url with query", Options{Secrets: sec, PublicURL: public + "?a=1"}, "public_url", ErrInvalidOption},
		{"public_url with empty query", Options{Secrets: sec, PublicURL: public + "?"}, "public_url", ErrInvalidOption},
		{"public_url with fragment", Options{Secrets: sec, PublicURL: public + "#x"}, "public_url", ErrInvalidOption},
		{"public_url with user", Options{Secrets: sec, PublicURL: "https://u:p@h/x"}, "public_url", ErrInvalidOption},
		{"public_url with space", Options{Secrets: sec, PublicURL: "https://h/a b"}, "public_url", ErrInvalidOption},
		{"public_url unparseable", Options{Secrets: sec, PublicURL: "https://h/%zz"}, "public_url", ErrInvalidOption},
		{"negative tolerance", Options{Secrets: sec, PublicURL: public, Tolerance: -time.Second}, "tolerance", ErrInvalidOption},
		{"unused header", Options{Secrets: sec, PublicURL: public, Header: "X-Sig"}, "header", ErrInvalidOption},
		{"unused public_key", Options{Secrets: sec, PublicURL: public, PublicKey: "ab"}, "public_key", ErrInvalidOption},
		{"unused allow_sha1", Options{Secrets: sec, PublicURL: public, AllowSHA1: true}, "allow_sha1", ErrInvalidOption},
	} {
		t.Run(tt.name, func(t *testing.T) { checkFieldErr(t, "hubspot", tt.o, tt.field, tt.err, secret) })
	}
}

// checkFieldErr fails unless New(scheme, o) fails with a *FieldError for field wrapping
// want, whose text shows none of the secrets.
func checkFieldErr(t *testing.T, scheme string, o Options, field string, want error, secrets ...string) {
	t.Helper()
	v, err := New(scheme, o)
	if v != nil {
		t.Fatalf("New returned a verifier with error %v", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, want) {
		t.Fatalf("New = %v, want a *FieldError for %q wrapping %v", err, field, want)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error %q shows a secret", err)
		}
	}
}

// FuzzHubSpot sends random signature and timestamp headers, queries and bodies: Verify must
// never panic or modify the body, must accept only the v3 signature of the request, and
// must accept the genuinely signed request whenever its timestamp is a fresh number.
func FuzzHubSpot(f *testing.F) {
	const secret, public = "fuzz-secret", "https://h.example.com/webhooks/hs"
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	body := []byte(`[{"subscriptionType":"contact.creation"}]`)
	f.Add(body, "?a=%3A%2f&b=%20", hubSpotV3(secret, "POST", public+"?a=%3A%2f&b=%20", body, ts), ts)
	f.Add([]byte{}, "", "", "")
	f.Add([]byte("[{"), "?%", "====", "-1")
	f.Add(body, "?%%3A", strings.Repeat("A", 88), "99999999999999999999")
	v := mustNew(f, "hubspot", Options{Secrets: []string{"other", secret}, PublicURL: public})
	f.Fuzz(func(t *testing.T, body []byte, query, sig, stamp string) {
		if query != "" && query[0] != '?' {
			query = "?" + query
		}
		before := bytes.Clone(body)
		r := &Request{Method: "POST", RequestURI: "/webhooks/hs" + query, Body: body, Now: now,
			Header: headers(hubSpotSigV3, sig, hubSpotTimestamp, stamp)}
		res, err := v.Verify(r)
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrStaleTimestamp) {
			t.Fatalf("error of no class: %v", err)
		}
		want := hubSpotV3(secret, "POST", public+query, body, stamp)
		if err == nil {
			got, derr := base64.RawStdEncoding.DecodeString(strings.TrimRight(sig, "="))
			if derr != nil {
				got, derr = base64.RawURLEncoding.DecodeString(strings.TrimRight(sig, "="))
			}
			w, _ := base64.StdEncoding.DecodeString(want)
			if derr != nil || !hmac.Equal(got, w) {
				t.Fatalf("accepted %q, which is not the request's signature", sig)
			}
			if res.Event == "" {
				t.Fatal("no event")
			}
		}
		if stamp == "" || strings.ContainsAny(stamp+query, "\r\n\x00") {
			return
		}
		r.Header = headers(hubSpotSigV3, want, hubSpotTimestamp, stamp)
		_, err = v.Verify(r)
		ms, perr := strconv.ParseInt(stamp, 10, 64)
		fresh := perr == nil && ms >= 0 && checkTimestamp(now, time.UnixMilli(ms), 0) == nil
		if fresh != (err == nil) {
			t.Fatalf("genuine request with timestamp %q: err = %v", stamp, err)
		}
	})
}

// BenchmarkHubSpot verifies a genuine v3 request with a 1 KiB body.
func BenchmarkHubSpot(b *testing.B) {
	const secret, public = "s", "https://hooks.example.com/webhooks/hubspot"
	const head, tail = `[{"eventId":1,"subscriptionType":"contact.creation","propertyValue":"`, `"}]`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	now := time.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	v := mustNew(b, "hubspot", Options{Secrets: []string{secret}, PublicURL: public})
	h := pairs{hubSpotSigV3, hubSpotV3(secret, "POST", public+"?portal=1", body, ts), hubSpotTimestamp, ts}
	r := &Request{Method: "POST", RequestURI: "/webhooks/hubspot?portal=1", Header: h.get, Body: body, Now: now}
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
