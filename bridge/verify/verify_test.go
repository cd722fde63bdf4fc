package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Shared test helpers, and tests of the pieces every scheme uses.

// headers builds a header lookup from name/value pairs; names are case-insensitive, as
// they are for the bridge.
func headers(kv ...string) Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			h.Set(kv[i], kv[i+1])
		}
	}
	return h.Get
}

// pairs is a header lookup that allocates nothing, for benchmarks.
type pairs []string

func (p pairs) get(name string) string {
	for i := 0; i+1 < len(p); i += 2 {
		if strings.EqualFold(p[i], name) {
			return p[i+1]
		}
	}
	return ""
}

func post(body []byte, kv ...string) *Request {
	return &Request{Method: "POST", Header: headers(kv...), Body: body}
}

func sum(h func() hash.Hash, secret string, parts ...[]byte) []byte {
	m := hmac.New(h, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func hexSum(h func() hash.Hash, secret string, parts ...[]byte) string {
	return hex.EncodeToString(sum(h, secret, parts...))
}

func mustNew(t testing.TB, scheme string, o Options) Verifier {
	t.Helper()
	v, err := New(scheme, o)
	if err != nil {
		t.Fatalf("New(%q): %v", scheme, err)
	}
	return v
}

// checkErr fails unless err matches want (nil meaning success), and checks that an error
// shows none of the secrets.
func checkErr(t *testing.T, err, want error, secrets ...string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want success", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error %q shows a secret", err)
		}
	}
}

func TestSchemes(t *testing.T) {
	want := []string{"discord", "github", "gitlab", "hmac", "hmac-sha1", "hmac-sha256", "hmac-sha512", "hubspot", "linear", "none", "paddle", "sendgrid", "shopify", "slack", "standard-webhooks", "stripe", "svix", "twilio", "twitch", "zoom"}
	if got := Schemes(); !slices.Equal(got, want) {
		t.Fatalf("Schemes() = %q, want %q", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a name twice did not panic")
		}
	}()
	register(nil, "github")
}

// TestNewErrors covers every configuration error: the field the config loader points at,
// the sentinel, and that no secret shows.
func TestNewErrors(t *testing.T) {
	const secret = "s3cr3t-never-shown"
	sec := []string{secret}
	hm := func(o Options) Options {
		o.Secrets, o.Header = sec, "X-Signature"
		return o
	}
	tests := []struct {
		name   string
		scheme string
		o      Options
		field  string
		err    error
	}{
		{"unknown scheme", "hmac-sha257", Options{Secrets: sec}, "verify", ErrUnknownScheme},
		{"empty scheme", "", Options{Secrets: sec}, "verify", ErrUnknownScheme},
		{"scheme case", "GitHub", Options{Secrets: sec}, "verify", ErrUnknownScheme},
		{"github no secret", "github", Options{}, "secrets", ErrNoSecret},
		{"github empty secret", "github", Options{Secrets: []string{secret, ""}}, "secrets", ErrNoSecret},
		{"github unused header", "github", Options{Secrets: sec, Header: "X-Sig"}, "header", ErrInvalidOption},
		{"github unused tolerance", "github", Options{Secrets: sec, Tolerance: time.Minute}, "tolerance", ErrInvalidOption},
		{"github unused public_url", "github", Options{Secrets: sec, PublicURL: "https://x"}, "public_url", ErrInvalidOption},
		{"hmac no secret", "hmac-sha256", Options{Header: "X-Signature"}, "secrets", ErrNoSecret},
		{"hmac empty secret", "hmac-sha256", Options{Header: "X-Signature", Secrets: []string{""}}, "secrets", ErrNoSecret},
		{"hmac no header", "hmac-sha256", Options{Secrets: sec}, "header", ErrInvalidOption},
		{"hmac bad header", "hmac-sha256", Options{Secrets: sec, Header: "X Signature"}, "header", ErrInvalidOption},
		{"hmac header with colon", "hmac-sha256", Options{Secrets: sec, Header: "X-Signature:"}, "header", ErrInvalidOption},
		{"bad encoding", "hmac-sha256", hm(Options{Encoding: "hexx"}), "encoding", ErrInvalidOption},
		{"encoding case", "hmac-sha256", hm(Options{Encoding: "Base64"}), "encoding", ErrInvalidOption},
		{"bad algorithm", "hmac", hm(Options{Algorithm: "md5"}), "algorithm", ErrInvalidOption},
		{"algorithm contradicts scheme", "hmac-sha1", hm(Options{Algorithm: "sha256"}), "algorithm", ErrInvalidOption},
		{"prefix starts with space", "hmac-sha256", hm(Options{Prefix: " sha256="}), "prefix", ErrInvalidOption},
		{"prefix starts with comma", "hmac-sha256", hm(Options{Prefix: ",v1="}), "prefix", ErrInvalidOption},
		{"prefix control byte", "hmac-sha256", hm(Options{Prefix: "v1\n"}), "prefix", ErrInvalidOption},
		{"bad id_header", "hmac-sha256", hm(Options{IDHeader: "X/Id"}), "id_header", ErrInvalidOption},
		{"bad event_header", "hmac-sha256", hm(Options{EventHeader: "X Event"}), "event_header", ErrInvalidOption},
		{"hmac unused allow_sha1", "hmac-sha256", hm(Options{AllowSHA1: true}), "allow_sha1", ErrInvalidOption},
		{"hmac unused allow_legacy", "hmac-sha256", hm(Options{AllowLegacy: true}), "allow_legacy", ErrInvalidOption},
		{"hmac unused public_key", "hmac-sha256", hm(Options{PublicKey: "abcd"}), "public_key", ErrInvalidOption},
		{"negative tolerance", "hmac-sha256", hm(Options{Tolerance: -time.Second, TimestampHeader: "X-Ts", SignedContent: "{timestamp}.{body}"}), "tolerance", ErrInvalidOption},
		{"tolerance without timestamp", "hmac-sha256", hm(Options{Tolerance: time.Minute}), "tolerance", ErrInvalidOption},
		{"timestamp not signed", "hmac-sha256", hm(Options{TimestampHeader: "X-Ts"}), "timestamp_header", ErrInvalidOption},
		{"timestamp not in template", "hmac-sha256", hm(Options{TimestampHeader: "X-Ts", SignedContent: "v1:{body}"}), "timestamp_header", ErrInvalidOption},
		{"bad timestamp_header", "hmac-sha256", hm(Options{TimestampHeader: "X Ts", SignedContent: "{timestamp}.{body}"}), "timestamp_header", ErrInvalidOption},
		{"template without body", "hmac-sha256", hm(Options{SignedContent: "static"}), "signed_content", ErrInvalidOption},
		{"template body twice", "hmac-sha256", hm(Options{SignedContent: "{body}{body}"}), "signed_content", ErrInvalidOption},
		{"template unknown placeholder", "hmac-sha256", hm(Options{SignedContent: "{url}{body}"}), "signed_content", ErrInvalidOption},
		{"template unclosed", "hmac-sha256", hm(Options{SignedContent: "{body}{times"}), "signed_content", ErrInvalidOption},
		{"template timestamp without header", "hmac-sha256", hm(Options{SignedContent: "{timestamp}.{body}"}), "signed_content", ErrInvalidOption},
		{"template id without header", "hmac-sha256", hm(Options{SignedContent: "{id}.{body}"}), "signed_content", ErrInvalidOption},
		{"none with secrets", "none", Options{Secrets: sec}, "secrets", ErrInvalidOption},
		{"none unused header", "none", Options{Header: "X-Sig"}, "header", ErrInvalidOption},
		{"none bad id_header", "none", Options{IDHeader: "X Id"}, "id_header", ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.scheme, tt.o)
			if v != nil {
				t.Fatalf("New returned a verifier with error %v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("New = %v (%T), want a *FieldError", err, err)
			}
			if fe.Field != tt.field || !errors.Is(err, tt.err) {
				t.Fatalf("New = %v: field %q, want %q wrapping %v", err, fe.Field, tt.field, tt.err)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Fatalf("Error() = %q, want it to start with the field", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("Error() = %q shows the secret", err)
			}
		})
	}
}

// TestNewErrorTexts pins the texts the config loader's golden file shows.
func TestNewErrorTexts(t *testing.T) {
	for _, tt := range []struct {
		scheme string
		o      Options
		want   string
	}{
		{"hmac-sha257", Options{Secrets: []string{"x"}}, `verify: unknown scheme: "hmac-sha257" (known: discord, github, gitlab, hmac, hmac-sha1, hmac-sha256, hmac-sha512, hubspot, linear, none, paddle, sendgrid, shopify, slack, standard-webhooks, stripe, svix, twilio, twitch, zoom)`},
		{"hmac-sha256", Options{Secrets: []string{"x"}}, `header: invalid value: required for scheme "hmac-sha256"`},
		{"hmac-sha256", Options{Secrets: []string{"x"}, Header: "X", Encoding: "hexx"}, `encoding: invalid value: "hexx" (want hex or base64)`},
		{"github", Options{Secrets: []string{"x", ""}}, `secrets: no usable secret: secret 1 is empty`},
	} {
		if _, err := New(tt.scheme, tt.o); err == nil || err.Error() != tt.want {
			t.Errorf("New(%q) = %v, want %s", tt.scheme, err, tt.want)
		}
	}
}

func TestNone(t *testing.T) {
	tests := []struct {
		name          string
		o             Options
		kv            []string
		id, wantEvent string
	}{
		{"bare", Options{}, nil, "", "webhook"},
		{"fixed event", Options{Event: "lead"}, []string{"X-Event", "ignored"}, "", "lead"},
		{"headers", Options{IDHeader: "X-Id", EventHeader: "X-Event", Event: "lead"}, []string{"x-id", "L-1", "x-event", "lead.created"}, "L-1", "lead.created"},
		{"event header absent", Options{IDHeader: "X-Id", EventHeader: "X-Event", Event: "lead"}, nil, "", "lead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "none", tt.o)
			res, err := v.Verify(post(nil, tt.kv...))
			if err != nil || res.DeliveryID != tt.id || res.Event != tt.wantEvent || res.Reply != nil {
				t.Fatalf("Verify = %+v, %v; want id %q event %q", res, err, tt.id, tt.wantEvent)
			}
			if v.Scheme() != "none" {
				t.Fatalf("Scheme() = %q", v.Scheme())
			}
		})
	}
}

func TestCheckTimestamp(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ts   time.Time
		tol  time.Duration
		err  error
	}{
		{"now", now, 0, nil},
		{"4m past", now.Add(-4 * time.Minute), 0, nil},
		{"edge past", now.Add(-DefaultTolerance), 0, nil},
		{"edge future", now.Add(DefaultTolerance), 0, nil},
		{"past", now.Add(-DefaultTolerance - time.Second), 0, ErrStaleTimestamp},
		{"future", now.Add(DefaultTolerance + time.Second), 0, ErrStaleTimestamp},
		{"custom tolerance", now.Add(-time.Minute), 30 * time.Second, ErrStaleTimestamp},
		{"zero time", time.Time{}, 0, ErrStaleTimestamp},
		{"far future", time.Unix(1<<62, 0), time.Hour, ErrStaleTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, checkTimestamp(now, tt.ts, tt.tol), tt.err)
		})
	}
}

func TestDecode(t *testing.T) {
	mac := sum(sha256.New, "k", []byte("body"))
	var buf [maxMAC]byte
	for _, tt := range []struct {
		name string
		in   string
		b64  bool
		ok   bool
	}{
		{"hex lower", hex.EncodeToString(mac), false, true},
		{"hex upper", strings.ToUpper(hex.EncodeToString(mac)), false, true},
		{"hex odd", hex.EncodeToString(mac)[1:], false, false},
		{"hex not hex", "zz" + hex.EncodeToString(mac)[2:], false, false},
		{"hex too long", strings.Repeat("00", maxMAC+1), false, false},
		{"base64 std padded", base64.StdEncoding.EncodeToString(mac), true, true},
		{"base64 std unpadded", base64.RawStdEncoding.EncodeToString(mac), true, true},
		{"base64 url padded", base64.URLEncoding.EncodeToString(mac), true, true},
		{"base64 url unpadded", base64.RawURLEncoding.EncodeToString(mac), true, true},
		{"base64 mixed alphabets", "ab+_", true, false},
		{"base64 junk", "!!!!", true, false},
		{"base64 too long", strings.Repeat("A", maxBase64+4), true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []byte
			var ok bool
			if tt.b64 {
				got, ok = decodeBase64(buf[:], tt.in)
			} else {
				got, ok = decodeHex(buf[:], tt.in)
			}
			if ok != tt.ok || ok && !hmac.Equal(got, mac) {
				t.Fatalf("decode(%q) = %x, %v; want %x, %v", tt.in, got, ok, mac, tt.ok)
			}
		})
	}
}

func TestJSONField(t *testing.T) {
	tests := []struct {
		name, body, want string
		ok               bool
	}{
		{"first", `{"action":"opened","x":1}`, `"opened"`, true},
		{"after nested", `{"issue":{"action":"inner","a":[1,{"b":"}"}]},"action":"opened"}`, `"opened"`, true},
		{"spaces", " \n{ \"a\" : true ,\r\n\t\"action\" :\"x\" }", `"x"`, true},
		{"first wins", `{"action":"a","action":"b"}`, `"a"`, true},
		{"number", `{"action":12.5e3}`, `12.5e3`, true},
		{"object", `{"action":{"k":"v"}}`, `{"k":"v"}`, true},
		{"escaped key", `{"\u0061ction":"x"}`, `"x"`, true},
		{"escaped quote before", `{"a":"\"action\":\"no\"","action":"yes"}`, `"yes"`, true},
		{"only nested", `{"issue":{"action":"x"}}`, ``, false},
		{"absent", `{"zen":"x"}`, ``, false},
		{"empty object", `{}`, ``, false},
		{"array", `["action","x"]`, ``, false},
		{"not json", `action=opened`, ``, false},
		{"empty", ``, ``, false},
		{"truncated key", `{"act`, ``, false},
		{"truncated value", `{"action":"ope`, ``, false},
		{"missing colon", `{"action" "x"}`, ``, false},
		{"missing value", `{"action":}`, ``, false},
		{"broken before", `{"a":[1,2,"action":"x"}`, ``, false},
		{"trailing garbage after value", `{"action":"x"} junk`, `"x"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, ok := jsonField([]byte(tt.body), "action")
			if ok != tt.ok || string(raw) != tt.want {
				t.Fatalf("jsonField = %q, %v; want %q, %v", raw, ok, tt.want, tt.ok)
			}
		})
	}
	for _, tt := range []struct{ raw, want string }{
		{`"plain"`, "plain"}, {`"op\u0065ned"`, "opened"}, {`"a\"b"`, `a"b`}, {"\"\xff\"", "\uFFFD"},
	} {
		if got, ok := jsonText([]byte(tt.raw)); !ok || string(got) != tt.want {
			t.Errorf("jsonText(%q) = %q, %v; want %q", tt.raw, got, ok, tt.want)
		}
	}
	for _, raw := range []string{`12`, `"`, `"\x"`, `{}`} {
		if got, ok := jsonText([]byte(raw)); ok {
			t.Errorf("jsonText(%q) = %q, want not a string", raw, got)
		}
	}
}

func TestFormValue(t *testing.T) {
	tests := []struct {
		name, body, want string
		ok               bool
	}{
		{"only", "payload=%7B%22a%22%3A1%7D", `{"a":1}`, true},
		{"plus is space", "x=1&payload=a+b%20c", "a b c", true},
		{"first wins", "payload=1&payload=2", "1", true},
		{"escaped key", "pay%6Coad=v", "v", true},
		{"bad escape skipped", "payload=%zz&payload=ok", "ok", true},
		{"empty value", "payload=", "", true},
		{"no value", "payload", "", true},
		{"absent", "payloads=1&xpayload=2", "", false},
		{"truncated escape", "payload=%4", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := formValue([]byte(tt.body), "payload")
			if ok != tt.ok || string(got) != tt.want {
				t.Fatalf("formValue = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	for ct, want := range map[string]bool{
		"application/x-www-form-urlencoded":                true,
		"Application/X-WWW-Form-Urlencoded; charset=utf-8": true,
		"application/json":                                 false,
		"":                                                 false,
	} {
		if isForm(ct) != want {
			t.Errorf("isForm(%q) = %v", ct, !want)
		}
	}
}

// TestConcurrent runs verifiers from many goroutines; with -race it checks that the pooled
// MAC states are never shared.
func TestConcurrent(t *testing.T) {
	body := []byte(`{"action":"opened"}`)
	gh := mustNew(t, "github", Options{Secrets: []string{"a", "b"}})
	hm := mustNew(t, "hmac-sha512", Options{Secrets: []string{"a", "b"}, Header: "X-Sig"})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			secret := []string{"a", "b"}[i%2]
			body := append(body, byte('0'+i))
			ghReq := post(body, "X-Hub-Signature-256", "sha256="+hexSum(sha256.New, secret, body), "X-GitHub-Event", "issues")
			for range 200 {
				if _, err := gh.Verify(ghReq); err != nil {
					t.Error(err)
					return
				}
				if _, err := hm.Verify(post(body, "X-Sig", "00")); !errors.Is(err, ErrInvalidSignature) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzJSONField compares jsonField with encoding/json on every body that is valid JSON
// (first occurrence of the key), and checks it never panics on the rest.
func FuzzJSONField(f *testing.F) {
	for _, s := range []string{
		`{"action":"opened","x":1}`, `{"a":{"action":1},"action":[1,"]"]}`, `{"\u0061ction":"\ud83d\ude00"}`,
		`{"action":"a","action":"b"}`, `[{"action":1}]`, `{"action":"x\u00e9\ufffd"}`, `{"a":"\\","action":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		raw, ok := jsonField(body, "action")
		if ok {
			jsonText(raw) // must not panic; an unreadable string is no action
		}
		if !json.Valid(body) {
			return
		}
		want, wantOK := refField(body, "action")
		if ok != wantOK || ok && !bytes.Equal(raw, want) {
			t.Fatalf("jsonField = %q, %v; encoding/json reads %q, %v", raw, ok, want, wantOK)
		}
		if text, isString := jsonText(raw); isString {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || s != string(text) {
				t.Fatalf("jsonText(%q) = %q; encoding/json reads %q (%v)", raw, text, s, err)
			}
		}
	})
}

// refField is the raw value of the first top-level key of a valid JSON object, read with
// encoding/json.
func refField(body []byte, key string) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		if k == key {
			return raw, true
		}
	}
	return nil, false
}
