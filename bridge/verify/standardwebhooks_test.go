package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStandardWebhooksVectors checks testdata/standard-webhooks: the signing test of the
// Standard Webhooks reference libraries, under both spellings of the headers.
func TestStandardWebhooksVectors(t *testing.T) {
	testSignedVectors(t, "standard-webhooks", "standard-webhooks")
	testSignedVectors(t, "svix", "standard-webhooks")
}

// swSign returns a "v1,<base64>" signature of id, timestamp and body under the base64 key of
// a "whsec_" secret.
func swSign(t testing.TB, secret, id, ts string, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestStandardWebhooks(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"invoice.paid","timestamp":"2026-01-01T00:00:00Z","data":{"id":"inv_1"}}`)
	const id = "msg_2XxHookbusTest"
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const old = "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA=="
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	ts := at(0)
	sign := func(secret, ts string, body []byte) string { return swSign(t, secret, id, ts, body) }
	good := sign(secret, ts, body)
	flipped := bytes.Clone(body)
	flipped[10] ^= 0x01
	stale, future := at(-DefaultTolerance-time.Second), at(DefaultTolerance+time.Second)
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a different key of 32 bytes!!!!!"))

	one := Options{Secrets: []string{secret}}
	rotating := Options{Secrets: []string{secret, old}}
	tests := []struct {
		name     string
		scheme   string
		o        Options
		body     []byte
		id, ts   string
		sigs     string
		err      error
		svixOnly bool // send the svix- spelling
	}{
		{"genuine", "standard-webhooks", one, body, id, ts, good, nil, false},
		{"wrong secret", "standard-webhooks", one, body, id, ts, sign(other, ts, body), ErrInvalidSignature, false},
		{"one flipped body byte", "standard-webhooks", one, flipped, id, ts, good, ErrInvalidSignature, false},
		{"missing header", "standard-webhooks", one, body, id, ts, "", ErrMissingSignature, false},
		{"malformed header", "standard-webhooks", one, body, id, ts, "v1=" + good[3:], ErrInvalidSignature, false},
		{"stale timestamp", "standard-webhooks", one, body, id, stale, sign(secret, stale, body), ErrStaleTimestamp, false},
		{"future timestamp", "standard-webhooks", one, body, id, future, sign(secret, future, body), ErrStaleTimestamp, false},
		{"rotated secret", "standard-webhooks", rotating, body, id, ts, sign(old, ts, body), nil, false},

		{"svix spelling", "svix", one, body, id, ts, good, nil, true},
		{"svix spelling, standard scheme name", "standard-webhooks", one, body, id, ts, good, nil, true},
		{"secret without prefix", "svix", Options{Secrets: []string{secret[len("whsec_"):]}}, body, id, ts, good, nil, false},
		{"several signatures, one matches", "standard-webhooks", one, body, id, ts, sign(other, ts, body) + " " + good, nil, false},
		{"other versions ignored", "standard-webhooks", one, body, id, ts, "v1a," + good[3:] + " v2," + good[3:] + " " + good, nil, false},
		{"v1a only", "standard-webhooks", one, body, id, ts, "v1a," + good[3:], ErrInvalidSignature, false},
		{"unpadded signature", "standard-webhooks", one, body, id, ts, strings.TrimRight(good, "="), nil, false},
		{"junk elements", "standard-webhooks", one, body, id, ts, "v1, v1,!!! ,,  " + good, nil, false},
		{"hex signature", "standard-webhooks", one, body, id, ts, "v1," + hexSum(sha256.New, secret, body), ErrInvalidSignature, false},
		{"id swapped", "standard-webhooks", one, body, "msg_other", ts, good, ErrInvalidSignature, false},
		{"timestamp swapped", "standard-webhooks", one, body, id, at(-time.Second), good, ErrInvalidSignature, false},
		{"stale and forged", "standard-webhooks", one, body, id, stale, sign(other, stale, body), ErrInvalidSignature, false},
		{"id missing", "standard-webhooks", one, body, "", ts, good, ErrMalformed, false},
		{"timestamp missing", "standard-webhooks", one, body, id, "", good, ErrMalformed, false},
		{"timestamp in milliseconds", "standard-webhooks", one, body, id, ts + "000", sign(secret, ts+"000", body), ErrStaleTimestamp, false},
		{"timestamp not a number", "standard-webhooks", one, body, id, "2026-01-01T00:00:00Z", sign(secret, "2026-01-01T00:00:00Z", body), ErrMalformed, false},
		{"key used undecoded", "standard-webhooks", one, body, id, ts, "v1," + base64.StdEncoding.EncodeToString(sum(sha256.New, secret, []byte(id+"."+ts+"."), body)), ErrInvalidSignature, false},
		{"tolerance option", "standard-webhooks", Options{Secrets: []string{secret}, Tolerance: 30 * time.Second}, body, id, at(-time.Minute), sign(secret, at(-time.Minute), body), ErrStaleTimestamp, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, tt.scheme, tt.o)
			names := standardWebhooksHeaders
			if tt.svixOnly {
				names = svixHeaders
			}
			r := post(tt.body, names.id, tt.id, names.timestamp, tt.ts, names.sig, tt.sigs)
			r.Now = now
			before := bytes.Clone(tt.body)
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, secret, old, secret[len("whsec_"):], good[3:])
			if err == nil && (res.DeliveryID != tt.id || res.Event != "invoice.paid" || res.Reply != nil) {
				t.Fatalf("Verify = %+v", res)
			}
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
			if v.Scheme() != tt.scheme {
				t.Fatalf("Scheme() = %q, want %q", v.Scheme(), tt.scheme)
			}
		})
	}

	// The two spellings are never mixed: webhook-signature with svix-id is no request.
	v := mustNew(t, "svix", one)
	r := post(body, "webhook-signature", good, "svix-id", id, "svix-timestamp", ts)
	r.Now = now
	if _, err := v.Verify(r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("mixed spellings: err = %v", err)
	}
	// webhook-signature wins when both are sent.
	r = post(body, "webhook-signature", sign(other, ts, body), "webhook-id", id, "webhook-timestamp", ts,
		"svix-signature", good, "svix-id", id, "svix-timestamp", ts)
	r.Now = now
	if _, err := v.Verify(r); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("both spellings: err = %v", err)
	}
}

// TestStandardWebhooksSecrets covers the decoding of secrets.
func TestStandardWebhooksSecrets(t *testing.T) {
	for _, tt := range []struct {
		name   string
		secret string
		err    error // nil: accepted
	}{
		{"prefixed", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", nil},
		{"bare", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", nil},
		{"padded", "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=", nil},
		{"padding left out", "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q", nil},
		{"not base64", "whsec_not base64!", ErrInvalidOption},
		{"url-safe alphabet", "whsec_ab-_cd", ErrInvalidOption},
		{"line break inside", "whsec_MfKQ9r8GKYqr\nTwjUPD8ILPZIo2LaLaSw", ErrInvalidOption},
		{"a plain password", "correct horse battery staple", ErrInvalidOption},
		{"asymmetric key", "whpk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ErrInvalidOption},
		{"prefix alone", "whsec_", ErrNoSecret},
		{"padding alone", "whsec_==", ErrNoSecret},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New("standard-webhooks", Options{Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", tt.secret}})
			if tt.err == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var fe *FieldError
			if v != nil || !errors.As(err, &fe) || fe.Field != "secrets" || !errors.Is(err, tt.err) {
				t.Fatalf("New = %v, %v; want a secrets error wrapping %v", v, err, tt.err)
			}
			if !strings.Contains(err.Error(), "secret 1 ") {
				t.Fatalf("Error() = %q does not name secret 1", err)
			}
			if p := strings.TrimPrefix(tt.secret, "whsec_"); len(p) > 2 && strings.Contains(err.Error(), p) {
				t.Fatalf("Error() = %q shows the secret", err)
			}
		})
	}
}

// refStandardWebhooks reports whether a "v1,<base64>" element of sigs decodes, with the
// standard library, to want.
func refStandardWebhooks(sigs string, want []byte) bool {
	for _, el := range strings.Split(sigs, " ") {
		enc, ok := strings.CutPrefix(el, "v1,")
		if !ok {
			continue
		}
		for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := e.DecodeString(strings.TrimRight(enc, "=")); err == nil && hmac.Equal(b, want) {
				return true
			}
		}
	}
	return false
}

// FuzzStandardWebhooks sends random ids, timestamps, signature lists and bodies: Verify must
// never panic or modify the body, must let through only a list holding the HMAC of the
// request's own id, timestamp and body, and must accept the genuine one.
func FuzzStandardWebhooks(f *testing.F) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Unix(1614265330, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"test": 2432232314}`)
	f.Add(body, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	f.Add(body, "msg_1", ts, "v1a,AAAA v1, v1,===  v2,x")
	f.Add([]byte(`{"type":"a.\u00e9"}`), "", "-5", "v1,"+strings.Repeat("/", 44))
	f.Add([]byte{}, "m", "", "")
	key, _ := base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	v := mustNew(f, "standard-webhooks", Options{Secrets: []string{"whsec_b3RoZXI=", secret}})
	f.Fuzz(func(t *testing.T, body []byte, id, stamp, sigs string) {
		before := bytes.Clone(body)
		kv := []string{"webhook-id", id, "webhook-timestamp", stamp, "webhook-signature", sigs}
		_, err := v.Verify(&Request{Method: "POST", Header: headers(kv...), Body: body, Now: now})
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrStaleTimestamp) {
			t.Fatalf("error of no class: %v", err)
		}
		if err == nil || errors.Is(err, ErrStaleTimestamp) {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(id + "." + stamp + "."))
			m.Write(body)
			if !refStandardWebhooks(sigs, m.Sum(nil)) {
				t.Fatalf("%q passed the signature check without the HMAC of %q, %q and the body", sigs, id, stamp)
			}
		}
		if id == "" {
			return
		}
		kv[3], kv[5] = ts, swSign(t, secret, id, ts, body)
		res, err := v.Verify(&Request{Method: "POST", Header: headers(kv...), Body: body, Now: now})
		if err != nil {
			t.Fatalf("genuine signature refused: %v", err)
		}
		if res.DeliveryID != id {
			t.Fatalf("delivery id %q, want %q", res.DeliveryID, id)
		}
		if json.Valid(body) {
			var want string
			if raw, ok := refField(body, "type"); ok {
				_ = json.Unmarshal(raw, &want)
			}
			if res.Event != want {
				t.Fatalf("event = %q, encoding/json reads %q", res.Event, want)
			}
		}
	})
}

// BenchmarkStandardWebhooks verifies a genuine 1 KiB message and a forged one.
func BenchmarkStandardWebhooks(b *testing.B) {
	const head, tail = `{"type":"invoice.paid","data":{"note":"`, `"}}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	run := func(b *testing.B, signer string, wantErr bool) {
		v := mustNew(b, "standard-webhooks", Options{Secrets: []string{secret}})
		h := pairs{"webhook-id", "msg_2XxHookbusTest", "webhook-timestamp", ts, "webhook-signature", swSign(b, signer, "msg_2XxHookbusTest", ts, body)}
		r := &Request{Method: "POST", Header: h.get, Body: body, Now: now}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := v.Verify(r); (err != nil) != wantErr {
				b.Fatal(err)
			}
		}
	}
	b.Run("genuine", func(b *testing.B) { run(b, secret, false) })
	b.Run("forged", func(b *testing.B) { run(b, "whsec_b3RoZXI=", true) })
}
