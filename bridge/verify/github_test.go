package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
)

// fixtureSecret is the documented webhook secret the testdata/github fixtures are signed
// with (see testdata/github/README.md). It is a test value and protects nothing.
const fixtureSecret = "hookbus-fixture-secret"

var update = flag.Bool("update", false, "rewrite the signed headers of testdata/github from the payloads")

// fixture is one recorded GitHub delivery: its body and its headers.
type fixture struct {
	body    []byte
	headers []string // name, value, name, value, …
}

func (f fixture) get(name string) string {
	for i := 0; i+1 < len(f.headers); i += 2 {
		if strings.EqualFold(f.headers[i], name) {
			return f.headers[i+1]
		}
	}
	return ""
}

// readFixture loads testdata/github/<name>.json and <name>.headers. With -update it first
// signs the payload with fixtureSecret and rewrites the signature lines of the headers file;
// without it, it checks that those lines are the real HMACs, so a fixture can never pass
// with a hand-written signature.
func readFixture(t testing.TB, name string) fixture {
	t.Helper()
	body, err := os.ReadFile("testdata/github/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	path := "testdata/github/" + name + ".headers"
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		gitHubSig256: "sha256=" + hexSum(sha256.New, fixtureSecret, body),
		gitHubSig1:   "sha1=" + hexSum(sha1.New, fixtureSecret, body),
	}
	var f fixture
	var out strings.Builder
	for line := range strings.Lines(string(text)) {
		name, value, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ": ")
		if !ok {
			t.Fatalf("%s: line %q is not \"Name: value\"", path, line)
		}
		if sig, signed := want[name]; signed {
			if *update {
				value = sig
			} else if value != sig {
				t.Fatalf("%s: %s is not the HMAC of %s.json under fixtureSecret (run go test -run TestGitHubFixture -update)", path, name, name)
			}
		}
		f.headers = append(f.headers, name, value)
		fmt.Fprintf(&out, "%s: %s\n", name, value)
	}
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.body = body
	return f
}

// TestGitHubFixture verifies the recorded issues.opened delivery as it arrived.
func TestGitHubFixture(t *testing.T) {
	f := readFixture(t, "issues-opened")
	v := mustNew(t, "github", Options{Secrets: []string{fixtureSecret}})
	res, err := v.Verify(&Request{Method: "POST", Header: f.get, Body: f.body})
	if err != nil {
		t.Fatal(err)
	}
	if res.Event != "issues.opened" || res.DeliveryID != f.get(gitHubDelivery) || res.Reply != nil {
		t.Fatalf("Verify = %+v", res)
	}
}

// TestGitHubDocsVector checks the example of GitHub's documentation on validating
// deliveries: the expected signature there was computed by GitHub, not by this package.
func TestGitHubDocsVector(t *testing.T) {
	raw, err := os.ReadFile("testdata/github/docs-vector.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("docs-vector.txt: %d lines, want secret, payload, signature", len(lines))
	}
	v := mustNew(t, "github", Options{Secrets: []string{lines[0]}})
	if _, err := v.Verify(post([]byte(lines[1]), gitHubSig256, lines[2], gitHubEvent, "ping")); err != nil {
		t.Fatalf("documented vector refused: %v", err)
	}
}

func TestGitHub(t *testing.T) {
	f := readFixture(t, "issues-opened")
	body := f.body
	const secret, old = fixtureSecret, "old-secret-being-rotated-out"
	sig := func(secret string, body []byte) string { return "sha256=" + hexSum(sha256.New, secret, body) }
	sig1 := func(secret string, body []byte) string { return "sha1=" + hexSum(sha1.New, secret, body) }
	tampered := bytes.Replace(body, []byte(`"number":42`), []byte(`"number":43`), 1)
	good := sig(secret, body)
	flipped := good[:len(good)-1] + "0" // one hex digit changed
	if strings.HasSuffix(good, "0") {
		flipped = good[:len(good)-1] + "1"
	}
	form := []byte("payload=" + url.QueryEscape(string(body)))
	const formType = "application/x-www-form-urlencoded"
	ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)

	rotating := Options{Secrets: []string{secret, old}}
	sha1On := Options{Secrets: []string{secret}, AllowSHA1: true}
	tests := []struct {
		name  string
		o     Options
		body  []byte
		kv    []string
		event string // expected on success
		err   error
	}{
		{"genuine", rotating, body, []string{gitHubSig256, good, gitHubEvent, "issues"}, "issues.opened", nil},
		{"rotation new secret", Options{Secrets: []string{"brand-new-secret", secret}}, body, []string{gitHubSig256, good, gitHubEvent, "issues"}, "issues.opened", nil},
		{"rotation old secret", rotating, body, []string{gitHubSig256, sig(old, body), gitHubEvent, "issues"}, "issues.opened", nil},
		{"uppercase hex", rotating, body, []string{gitHubSig256, "sha256=" + strings.ToUpper(good[7:]), gitHubEvent, "issues"}, "issues.opened", nil},
		{"tampered body", rotating, tampered, []string{gitHubSig256, good, gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"tampered signature", rotating, body, []string{gitHubSig256, flipped, gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"wrong secret", rotating, body, []string{gitHubSig256, sig("not-the-secret", body), gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"empty body signed", rotating, nil, []string{gitHubSig256, sig(secret, nil), gitHubEvent, "ping"}, "ping", nil},
		{"missing header", rotating, body, []string{gitHubEvent, "issues"}, "", ErrMissingSignature},
		{"missing everything", rotating, body, nil, "", ErrMissingSignature},
		{"no prefix", rotating, body, []string{gitHubSig256, good[7:], gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"uppercase prefix", rotating, body, []string{gitHubSig256, "SHA256=" + good[7:], gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"sha1 prefix in sha256 header", rotating, body, []string{gitHubSig256, "sha1=" + good[7:], gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"bad hex", rotating, body, []string{gitHubSig256, "sha256=" + strings.Repeat("zz", 32), gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"odd hex", rotating, body, []string{gitHubSig256, good[:len(good)-1], gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"short", rotating, body, []string{gitHubSig256, good[:40], gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"sha512 length", rotating, body, []string{gitHubSig256, "sha256=" + hexSum(sha512.New, secret, body), gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"trailing space", rotating, body, []string{gitHubSig256, good + " ", gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"two signatures", rotating, body, []string{gitHubSig256, good + "," + good, gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"missing event", rotating, body, []string{gitHubSig256, good}, "", ErrMalformed},
		{"missing event forged", rotating, body, []string{gitHubSig256, sig("x", body)}, "", ErrInvalidSignature},
		{"sha1 fallback off", rotating, body, []string{gitHubSig1, sig1(secret, body), gitHubEvent, "issues"}, "", ErrMissingSignature},
		{"sha1 fallback on", sha1On, body, []string{gitHubSig1, sig1(secret, body), gitHubEvent, "issues"}, "issues.opened", nil},
		{"sha1 fallback wrong secret", sha1On, body, []string{gitHubSig1, sig1(old, body), gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"sha1 fallback sha256 value", sha1On, body, []string{gitHubSig1, "sha1=" + good[7:], gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"sha1 fallback none sent", sha1On, body, []string{gitHubEvent, "issues"}, "", ErrMissingSignature},
		{"sha256 wins over sha1", sha1On, body, []string{gitHubSig256, sig(old, body), gitHubSig1, sig1(secret, body), gitHubEvent, "issues"}, "", ErrInvalidSignature},
		{"sha256 with sha1 allowed", sha1On, body, []string{gitHubSig256, good, gitHubSig1, "sha1=junk", gitHubEvent, "issues"}, "issues.opened", nil},
		{"form-encoded payload", rotating, form, []string{gitHubSig256, sig(secret, form), gitHubEvent, "issues", "Content-Type", formType}, "issues.opened", nil},
		{"form with charset", rotating, form, []string{gitHubSig256, sig(secret, form), gitHubEvent, "issues", "Content-Type", "Application/X-WWW-Form-URLEncoded; charset=utf-8"}, "issues.opened", nil},
		{"form tampered", rotating, form[:len(form)-3], []string{gitHubSig256, sig(secret, form), gitHubEvent, "issues", "Content-Type", formType}, "", ErrInvalidSignature},
		{"form without payload field", rotating, []byte("x=1"), []string{gitHubSig256, sig(secret, []byte("x=1")), gitHubEvent, "issues", "Content-Type", formType}, "issues", nil},
		{"form body sent as json", rotating, form, []string{gitHubSig256, sig(secret, form), gitHubEvent, "issues", "Content-Type", "application/json"}, "issues", nil},
		{"action absent", rotating, ping, []string{gitHubSig256, sig(secret, ping), gitHubEvent, "ping"}, "ping", nil},
		{"action not a string", rotating, []byte(`{"action":7}`), []string{gitHubSig256, sig(secret, []byte(`{"action":7}`)), gitHubEvent, "issues"}, "issues", nil},
		{"action empty", rotating, []byte(`{"action":""}`), []string{gitHubSig256, sig(secret, []byte(`{"action":""}`)), gitHubEvent, "issues"}, "issues", nil},
		{"action escaped", rotating, []byte(`{"action":"op\u0065ned"}`), []string{gitHubSig256, sig(secret, []byte(`{"action":"op\u0065ned"}`)), gitHubEvent, "issues"}, "issues.opened", nil},
		{"action only nested", rotating, []byte(`{"issue":{"action":"x"}}`), []string{gitHubSig256, sig(secret, []byte(`{"issue":{"action":"x"}}`)), gitHubEvent, "issues"}, "issues", nil},
		{"body not json", rotating, []byte(`action: opened`), []string{gitHubSig256, sig(secret, []byte(`action: opened`)), gitHubEvent, "push"}, "push", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "github", tt.o)
			r := post(tt.body, tt.kv...)
			before := bytes.Clone(tt.body)
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, secret, old, good[7:])
			if err == nil && res.Event != tt.event {
				t.Fatalf("event = %q, want %q", res.Event, tt.event)
			}
			if !bytes.Equal(r.Body, before) {
				t.Fatal("Verify modified the body")
			}
		})
	}

	v := mustNew(t, "github", rotating)
	if v.Scheme() != "github" {
		t.Fatalf("Scheme() = %q", v.Scheme())
	}
	res, _ := v.Verify(post(body, gitHubSig256, good, gitHubEvent, "issues", "x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"))
	if res.DeliveryID != "72d3162e-cc78-11e3-81ab-4c9367dc0958" {
		t.Fatalf("delivery id %q", res.DeliveryID)
	}
	res, _ = v.Verify(post(body, gitHubSig256, good, gitHubEvent, "issues"))
	if res.DeliveryID != "" {
		t.Fatalf("delivery id %q without the header", res.DeliveryID)
	}
}

// refAction is the payload's first top-level "action" as encoding/json reads it, for
// bodies that are valid JSON.
func refAction(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", false
		}
		if key == "action" {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return "", false
			}
			return s, true
		}
	}
	return "", false
}

// FuzzGitHub sends random signatures, events, content types and bodies: Verify must never
// panic or modify the body, a signature that is not the body's HMAC must never pass, and a
// genuine one must yield the same action encoding/json reads.
func FuzzGitHub(f *testing.F) {
	const secret = "fuzz-secret"
	issue := []byte(`{"action":"opened","issue":{"number":1}}`)
	form := []byte("payload=" + url.QueryEscape(string(issue)))
	for _, s := range []struct {
		body          []byte
		sig, sig1, ev string
		ct            string
	}{
		{issue, "sha256=" + hexSum(sha256.New, secret, issue), "", "issues", "application/json"},
		{issue, "", "sha1=" + hexSum(sha1.New, secret, issue), "issues", ""},
		{form, "sha256=" + hexSum(sha256.New, secret, form), "", "issues", "application/x-www-form-urlencoded"},
		{[]byte(`{"a":[{"b":"\"}"}],"action":"x\u00e9"}`), "sha256=00", "", "x", ""},
		{[]byte(`{"action":`), "sha256=", "sha1=", "", ""},
		{nil, "sha256=" + strings.Repeat("A", 64), "", "push", "application/x-www-form-urlencoded"},
	} {
		f.Add(s.body, s.sig, s.sig1, s.ev, s.ct)
	}
	v := mustNew(f, "github", Options{Secrets: []string{"other-secret", secret}, AllowSHA1: true})
	f.Fuzz(func(t *testing.T, body []byte, sig, sig1, event, contentType string) {
		before := bytes.Clone(body)
		kv := []string{gitHubSig256, sig, gitHubSig1, sig1, gitHubEvent, event, "Content-Type", contentType}
		res, err := v.Verify(post(body, kv...))
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error of no class: %v", err)
		}
		if err == nil {
			genuine := false
			if sig != "" {
				d, ok := strings.CutPrefix(sig, "sha256=")
				b, derr := hex.DecodeString(d)
				genuine = ok && derr == nil && hmac.Equal(b, sum(sha256.New, secret, body))
			} else {
				d, ok := strings.CutPrefix(sig1, "sha1=")
				b, derr := hex.DecodeString(d)
				genuine = ok && derr == nil && hmac.Equal(b, sum(sha1.New, secret, body))
			}
			if !genuine {
				t.Fatalf("accepted a signature that is not the body's HMAC: %q / %q", sig, sig1)
			}
		}

		// The same request, genuinely signed.
		kv[1] = "sha256=" + hexSum(sha256.New, secret, body)
		res, err = v.Verify(post(body, kv...))
		if event == "" {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("no event: err = %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("genuine signature refused: %v", err)
		}
		payload := body
		if isForm(contentType) {
			q, qerr := url.ParseQuery(string(body))
			if qerr != nil || strings.Contains(string(body), ";") {
				return // url.ParseQuery skips fields this reader takes: no reference
			}
			payload = []byte(q.Get("payload"))
		}
		want := event
		if json.Valid(payload) {
			if a, ok := refAction(payload); ok && a != "" {
				want += "." + a
			}
			if res.Event != want {
				t.Fatalf("event = %q, encoding/json reads %q", res.Event, want)
			}
		} else if res.Event != want && !strings.HasPrefix(res.Event, want+".") {
			t.Fatalf("event = %q, not based on %q", res.Event, want)
		}
	})
}

// BenchmarkGitHub verifies a genuine 1 KiB delivery with an action, the common case.
func BenchmarkGitHub(b *testing.B) {
	const head, tail = `{"action":"opened","issue":{"number":1,"body":"`, `"}}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	run := func(b *testing.B, o Options, secret string, kv ...string) {
		v := mustNew(b, "github", o)
		h := pairs(append(kv, gitHubSig256, "sha256="+hexSum(sha256.New, secret, body), gitHubEvent, "issues"))
		r := &Request{Method: "POST", Header: h.get, Body: body}
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
	b.Run("json", func(b *testing.B) { run(b, Options{Secrets: []string{"s"}}, "s") })
	b.Run("second-secret", func(b *testing.B) { run(b, Options{Secrets: []string{"new", "s"}}, "s") })
	b.Run("forged", func(b *testing.B) {
		v := mustNew(b, "github", Options{Secrets: []string{"s"}})
		h := pairs{gitHubSig256, "sha256=" + hexSum(sha256.New, "x", body), gitHubEvent, "issues"}
		r := &Request{Method: "POST", Header: h.get, Body: body}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := v.Verify(r); err == nil {
				b.Fatal("forged request accepted")
			}
		}
	})
}
