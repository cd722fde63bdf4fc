package verify

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// req builds a request from a header map (canonicalised like HTTP does).
func req(body []byte, kv ...string) *Request {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return &Request{Method: "POST", Header: h.Get, Body: body}
}

func mac(h func() hash.Hash, secret string, body []byte) []byte {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

func ghSig(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(sha256.New, secret, body))
}

func mustNew(t testing.TB, scheme string, o Options) Verifier {
	t.Helper()
	v, err := New(scheme, o)
	if err != nil {
		t.Fatalf("New(%q): %v", scheme, err)
	}
	return v
}

func TestGitHubDocsVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/github/docs-vector.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	v := mustNew(t, "github", Options{Secrets: []string{lines[0]}})
	if _, err := v.Verify(req([]byte(lines[1]), "X-Hub-Signature-256", lines[2], "X-GitHub-Event", "ping")); err != nil {
		t.Fatalf("documented vector refused: %v", err)
	}
}

func TestGitHub(t *testing.T) {
	body, err := os.ReadFile("testdata/github/issues-opened.json")
	if err != nil {
		t.Fatal(err)
	}
	const secret, old = "new-secret", "old-secret"
	v := mustNew(t, "github", Options{Secrets: []string{secret, old}})
	v1 := mustNew(t, "github", Options{Secrets: []string{secret}, AllowSHA1: true})
	flipped := append([]byte(nil), body...)
	flipped[10] ^= 1
	form := []byte("payload=" + url.QueryEscape(string(body)))
	sha1Sig := "sha1=" + hex.EncodeToString(mac(sha1.New, secret, body))
	tests := []struct {
		name    string
		v       Verifier
		body    []byte
		headers []string
		event   string
		err     error
	}{
		{"genuine", v, body, []string{"X-Hub-Signature-256", ghSig(secret, body), "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d1"}, "issues.opened", nil},
		{"rotated old secret", v, body, []string{"X-Hub-Signature-256", ghSig(old, body), "X-GitHub-Event", "issues"}, "issues.opened", nil},
		{"uppercase hex", v, body, []string{"X-Hub-Signature-256", "sha256=" + strings.ToUpper(ghSig(secret, body)[7:]), "X-GitHub-Event", "issues"}, "issues.opened", nil},
		{"no action", v, []byte(`{"zen":"x"}`), []string{"X-Hub-Signature-256", ghSig(secret, []byte(`{"zen":"x"}`)), "X-GitHub-Event", "ping"}, "ping", nil},
		{"not json", v, []byte(`"action" but broken`), []string{"X-Hub-Signature-256", ghSig(secret, []byte(`"action" but broken`)), "X-GitHub-Event", "push"}, "push", nil},
		{"form payload", v, form, []string{"X-Hub-Signature-256", ghSig(secret, form), "X-GitHub-Event", "issues", "Content-Type", "application/x-www-form-urlencoded"}, "issues.opened", nil},
		{"flipped byte", v, flipped, []string{"X-Hub-Signature-256", ghSig(secret, body), "X-GitHub-Event", "issues"}, "", ErrInvalidSignature},
		{"wrong secret", v, body, []string{"X-Hub-Signature-256", ghSig("nope", body), "X-GitHub-Event", "issues"}, "", ErrInvalidSignature},
		{"missing", v, body, []string{"X-GitHub-Event", "issues"}, "", ErrMissingSignature},
		{"bad prefix", v, body, []string{"X-Hub-Signature-256", "sha1=" + ghSig(secret, body)[7:], "X-GitHub-Event", "issues"}, "", ErrInvalidSignature},
		{"bad hex", v, body, []string{"X-Hub-Signature-256", "sha256=" + strings.Repeat("zz", 32), "X-GitHub-Event", "issues"}, "", ErrInvalidSignature},
		{"short", v, body, []string{"X-Hub-Signature-256", ghSig(secret, body)[:40], "X-GitHub-Event", "issues"}, "", ErrInvalidSignature},
		{"no event header", v, body, []string{"X-Hub-Signature-256", ghSig(secret, body)}, "", ErrMalformed},
		{"sha1 refused by default", v, body, []string{"X-Hub-Signature", sha1Sig, "X-GitHub-Event", "issues"}, "", ErrMissingSignature},
		{"sha1 allowed", v1, body, []string{"X-Hub-Signature", sha1Sig, "X-GitHub-Event", "issues"}, "issues.opened", nil},
		{"sha256 wins over sha1", v1, body, []string{"X-Hub-Signature-256", ghSig("nope", body), "X-Hub-Signature", sha1Sig, "X-GitHub-Event", "issues"}, "", ErrInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.v.Verify(req(tt.body, tt.headers...))
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && res.Event != tt.event {
				t.Fatalf("event = %q, want %q", res.Event, tt.event)
			}
		})
	}
	res, _ := v.Verify(req(body, "X-Hub-Signature-256", ghSig(secret, body), "X-GitHub-Event", "issues", "X-GitHub-Delivery", "72d3162e"))
	if res.DeliveryID != "72d3162e" || v.Scheme() != "github" {
		t.Fatalf("delivery id %q scheme %q", res.DeliveryID, v.Scheme())
	}
}

func TestHMAC(t *testing.T) {
	body := []byte(`{"lead":"ada"}`)
	hexSig := func(h func() hash.Hash, s string) string { return hex.EncodeToString(mac(h, s, body)) }
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString(mac(sha256.New, s, body)) }
	b64url := base64.RawURLEncoding.EncodeToString(mac(sha256.New, "k1", body))
	base := Options{Secrets: []string{"k1", "k2"}, Header: "X-Signature", Prefix: "sha256=", IDHeader: "X-Id", EventHeader: "X-Event"}
	withEnc := func(o Options, enc string) Options { o.Encoding = enc; return o }
	tests := []struct {
		name   string
		scheme string
		o      Options
		sig    string
		err    error
	}{
		{"hex", "hmac-sha256", base, "sha256=" + hexSig(sha256.New, "k1"), nil},
		{"rotated", "hmac-sha256", base, "sha256=" + hexSig(sha256.New, "k2"), nil},
		{"several in header", "hmac-sha256", base, "sha256=" + hexSig(sha256.New, "old") + ", sha256=" + hexSig(sha256.New, "k2"), nil},
		{"base64", "hmac-sha256", withEnc(base, "base64"), "sha256=" + b64("k1"), nil},
		{"base64 url-safe unpadded", "hmac-sha256", withEnc(base, "base64"), "sha256=" + b64url, nil},
		{"sha1", "hmac-sha1", base, "sha256=" + hexSig(sha1.New, "k1"), nil},
		{"sha512 via algorithm", "hmac", func() Options { o := base; o.Algorithm = "sha512"; return o }(), "sha256=" + hexSig(sha512.New, "k1"), nil},
		{"wrong secret", "hmac-sha256", base, "sha256=" + hexSig(sha256.New, "k3"), ErrInvalidSignature},
		{"missing prefix", "hmac-sha256", base, hexSig(sha256.New, "k1"), ErrInvalidSignature},
		{"wrong algorithm", "hmac-sha256", base, "sha256=" + hexSig(sha1.New, "k1"), ErrInvalidSignature},
		{"bad base64", "hmac-sha256", withEnc(base, "base64"), "sha256=!!!!", ErrInvalidSignature},
		{"hex where base64", "hmac-sha256", withEnc(base, "base64"), "sha256=" + hexSig(sha256.New, "k1"), ErrInvalidSignature},
		{"missing", "hmac-sha256", base, "", ErrMissingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, tt.scheme, tt.o)
			res, err := v.Verify(req(body, "X-Signature", tt.sig, "X-Id", "L-1", "X-Event", "lead.created"))
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && (res.DeliveryID != "L-1" || res.Event != "lead.created") {
				t.Fatalf("result %+v", res)
			}
		})
	}
	// A flipped body byte under a genuine signature.
	v := mustNew(t, "hmac-sha256", base)
	if _, err := v.Verify(req([]byte(`{"lead":"adb"}`), "X-Signature", "sha256="+hexSig(sha256.New, "k1"))); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("flipped body: %v", err)
	}
	// Without event header: the fixed event, or "webhook".
	res, _ := mustNew(t, "hmac-sha256", Options{Secrets: []string{"k1"}, Header: "X-Signature", Prefix: "sha256=", Event: "lead"}).
		Verify(req(body, "X-Signature", "sha256="+hexSig(sha256.New, "k1")))
	if res.Event != "lead" || res.DeliveryID != "" {
		t.Fatalf("fixed event: %+v", res)
	}
	res, _ = mustNew(t, "none", Options{}).Verify(req(body))
	if res.Event != "webhook" {
		t.Fatalf("none default event %q", res.Event)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name   string
		scheme string
		o      Options
		field  string
		err    error
	}{
		{"unknown scheme", "hmac-sha257", Options{Secrets: []string{"x"}}, "verify", ErrUnknownScheme},
		{"github no secret", "github", Options{}, "secrets", ErrNoSecret},
		{"github empty secret", "github", Options{Secrets: []string{"a", ""}}, "secrets", ErrNoSecret},
		{"hmac no header", "hmac-sha256", Options{Secrets: []string{"x"}}, "header", ErrInvalidOption},
		{"hmac bad encoding", "hmac-sha256", Options{Secrets: []string{"x"}, Header: "X", Encoding: "hexx"}, "encoding", ErrInvalidOption},
		{"hmac bad algorithm", "hmac", Options{Secrets: []string{"x"}, Header: "X", Algorithm: "md5"}, "algorithm", ErrInvalidOption},
		{"algorithm contradicts", "hmac-sha1", Options{Secrets: []string{"x"}, Header: "X", Algorithm: "sha256"}, "algorithm", ErrInvalidOption},
		{"hmac no secret", "hmac-sha256", Options{Header: "X"}, "secrets", ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.scheme, tt.o)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, tt.err) {
				t.Fatalf("New = %v, want field %q and %v", err, tt.field, tt.err)
			}
			for _, s := range tt.o.Secrets {
				if s != "" && strings.Contains(err.Error(), s) && len(s) > 1 {
					t.Fatalf("error %q shows a secret", err)
				}
			}
		})
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCheckTimestamp(t *testing.T) {
	now := mustTime("2026-01-01T12:00:00Z")
	for _, tt := range []struct {
		ts  string
		err error
	}{
		{"2026-01-01T11:56:00Z", nil},
		{"2026-01-01T12:04:59Z", nil},
		{"2026-01-01T11:54:59Z", ErrStaleTimestamp},
		{"2026-01-01T12:05:01Z", ErrStaleTimestamp},
	} {
		if err := checkTimestamp(now, mustTime(tt.ts), 0); !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tt.ts, err, tt.err)
		}
	}
}

func FuzzGitHub(f *testing.F) {
	body := []byte(`{"action":"opened"}`)
	f.Add(body, ghSig("s", body), "issues", "application/json")
	f.Add([]byte("payload=%7B%22action%22%3A1%7D"), "sha256=00", "issues", "application/x-www-form-urlencoded")
	f.Add([]byte(`{"action":`), "sha256=", "", "")
	v := mustNew(f, "github", Options{Secrets: []string{"s"}, AllowSHA1: true})
	f.Fuzz(func(t *testing.T, body []byte, sig, event, ct string) {
		res, err := v.Verify(req(body, "X-Hub-Signature-256", sig, "X-GitHub-Event", event, "Content-Type", ct))
		genuine := strings.EqualFold(sig, ghSig("s", body))
		if err == nil && !genuine {
			t.Fatalf("accepted a signature that is not the body's: %q", sig)
		}
		if err == nil && !strings.HasPrefix(res.Event, event) {
			t.Fatalf("event %q does not start with the header %q", res.Event, event)
		}
	})
}

func FuzzHMAC(f *testing.F) {
	body := []byte(`{"x":1}`)
	f.Add(body, "sha256="+base64.StdEncoding.EncodeToString(mac(sha256.New, "s", body)))
	f.Add(body, "sha256=,, sha256=AAAA")
	f.Add([]byte{}, "")
	v := mustNew(f, "hmac-sha256", Options{Secrets: []string{"s"}, Header: "X-Sig", Prefix: "sha256=", Encoding: "base64"})
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		_, err := v.Verify(req(body, "X-Sig", sig))
		want := mac(sha256.New, "s", body)
		if err == nil {
			// Some element of the header must decode to the genuine MAC.
			found := false
			for _, one := range strings.FieldsFunc(sig, func(r rune) bool { return r == ',' || r == ' ' }) {
				enc := strings.TrimRight(strings.TrimPrefix(one, "sha256="), "=")
				for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
					if b, err := e.DecodeString(enc); err == nil && hmac.Equal(b, want) {
						found = true
					}
				}
			}
			if !found {
				t.Fatalf("accepted %q", sig)
			}
		}
	})
}

func BenchmarkGitHub(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	v := mustNew(b, "github", Options{Secrets: []string{"s"}})
	r := req(body, "X-Hub-Signature-256", ghSig("s", body), "X-GitHub-Event", "push")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHMAC(b *testing.B) {
	body := []byte(strings.Repeat("x", 1024))
	v := mustNew(b, "hmac-sha256", Options{Secrets: []string{"s"}, Header: "X-Sig", Prefix: "sha256="})
	r := req(body, "X-Sig", ghSig("s", body))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
