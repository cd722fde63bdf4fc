package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLinearVectors checks testdata/linear (see its README).
func TestLinearVectors(t *testing.T) { testSignedVectors(t, "linear", "linear") }

// linearBody is a Linear Issue payload sent at ms (Unix milliseconds).
func linearBody(ms int64) []byte {
	return []byte(`{"action":"update","type":"Issue","data":{"id":"9f2c","title":"Signatures"},"url":"https://linear.app/x/issue/ENG-1","webhookTimestamp":` +
		strconv.FormatInt(ms, 10) + `,"webhookId":"0c3f"}`)
}

func TestLinear(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const secret, old = "lin_wh_currentSigningSecret0123", "lin_wh_rotatedSigningSecret9876"
	at := func(d time.Duration) []byte { return linearBody(now.Add(d).UnixMilli()) }
	sig := func(secret string, body []byte) string { return hexSum(sha256.New, secret, body) }
	body := at(0)
	good := sig(secret, body)
	flipped := bytes.Clone(body)
	flipped[bytes.Index(body, []byte("Signatures"))] ^= 0x01
	stale, future := at(-DefaultTolerance-time.Millisecond), at(DefaultTolerance+time.Millisecond)

	one := Options{Secrets: []string{secret}}
	rotating := Options{Secrets: []string{secret, old}}
	tests := []struct {
		name string
		o    Options
		body []byte
		sig  string
		err  error
	}{
		{"genuine", one, body, good, nil},
		{"wrong secret", one, body, sig("lin_wh_other", body), ErrInvalidSignature},
		{"one flipped body byte", one, flipped, good, ErrInvalidSignature},
		{"missing header", one, body, "", ErrMissingSignature},
		{"malformed header", one, body, "sha256=" + good, ErrInvalidSignature},
		{"stale timestamp", one, stale, sig(secret, stale), ErrStaleTimestamp},
		{"future timestamp", one, future, sig(secret, future), ErrStaleTimestamp},
		{"rotated secret", rotating, body, sig(old, body), nil},

		{"uppercase hex", one, body, strings.ToUpper(good), nil},
		{"edge of tolerance", one, at(-DefaultTolerance), sig(secret, at(-DefaultTolerance)), nil},
		{"stale and forged", one, stale, sig("x", stale), ErrInvalidSignature},
		{"short", one, body, good[:62], ErrInvalidSignature},
		{"base64", one, body, "AAAA" + good[4:], ErrInvalidSignature},
		{"timestamp in seconds", one, linearBody(now.Unix()), sig(secret, linearBody(now.Unix())), ErrStaleTimestamp},
		{"tolerance option", Options{Secrets: []string{secret}, Tolerance: 30 * time.Second}, at(-time.Minute), sig(secret, at(-time.Minute)), ErrStaleTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "linear", tt.o)
			r := post(tt.body, linearSig, tt.sig, linearDelivery, "234d1a4e-b617-4388-90fe-adc3633d6b72", linearEvent, "Issue")
			r.Now = now
			before := bytes.Clone(tt.body)
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, secret, old, good)
			if err == nil && (res.DeliveryID != "234d1a4e-b617-4388-90fe-adc3633d6b72" || res.Event != "Issue.update" || res.Reply != nil) {
				t.Fatalf("Verify = %+v", res)
			}
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
		})
	}
	if s := mustNew(t, "linear", one).Scheme(); s != "linear" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestLinearResult covers the signed timestamp inside the body, the delivery id and the
// event.
func TestLinearResult(t *testing.T) {
	now := time.Unix(1767225600, 0)
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	const secret = "linear-result-secret"
	v := mustNew(t, "linear", Options{Secrets: []string{secret}})
	for _, tt := range []struct {
		name, body string
		kv         []string
		id, event  string
		err        error
	}{
		{"header event", `{"type":"Issue","action":"create","webhookTimestamp":` + ms + `}`, []string{linearEvent, "Issue", linearDelivery, "d-1"}, "d-1", "Issue.create", nil},
		{"body type", `{"type":"Comment","action":"remove","webhookTimestamp":` + ms + `}`, nil, "", "Comment.remove", nil},
		{"header wins", `{"type":"Comment","action":"remove","webhookTimestamp":` + ms + `}`, []string{linearEvent, "Reaction"}, "", "Reaction.remove", nil},
		{"no action", `{"type":"IssueSLA","webhookTimestamp":` + ms + `}`, nil, "", "IssueSLA", nil},
		{"action alone", `{"action":"create","webhookTimestamp":` + ms + `}`, nil, "", "create", nil},
		{"neither", `{"webhookTimestamp":` + ms + `}`, nil, "", "", nil},
		{"timestamp nested only", `{"data":{"webhookTimestamp":` + ms + `}}`, nil, "", "", ErrMalformed},
		{"timestamp missing", `{"type":"Issue"}`, nil, "", "", ErrMalformed},
		{"timestamp a string", `{"webhookTimestamp":"` + ms + `"}`, nil, "", "", ErrMalformed},
		{"timestamp fractional", `{"webhookTimestamp":` + ms + `.5}`, nil, "", "", ErrMalformed},
		{"timestamp exponent", `{"webhookTimestamp":1.7e12}`, nil, "", "", ErrMalformed},
		{"timestamp negative", `{"webhookTimestamp":-` + ms + `}`, nil, "", "", ErrMalformed},
		{"timestamp huge", `{"webhookTimestamp":99999999999999999999}`, nil, "", "", ErrMalformed},
		{"timestamp zero", `{"webhookTimestamp":0}`, nil, "", "", ErrStaleTimestamp},
		{"not json", `webhookTimestamp=` + ms, nil, "", "", ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			r := post(body, append([]string{linearSig, hexSum(sha256.New, secret, body)}, tt.kv...)...)
			r.Now = now
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, secret)
			if err == nil && (res.DeliveryID != tt.id || res.Event != tt.event) {
				t.Fatalf("Verify = %+v; want id %q event %q", res, tt.id, tt.event)
			}
		})
	}
}

// FuzzLinear sends random signatures and bodies: Verify must never panic or modify the
// body, must let through only the hex HMAC of the body, and must judge a genuine body's
// webhookTimestamp as encoding/json reads it.
func FuzzLinear(f *testing.F) {
	const secret = "fuzz-secret"
	now := time.Unix(1767225600, 0)
	body := linearBody(now.UnixMilli())
	f.Add(body, hexSum(sha256.New, secret, body))
	f.Add([]byte(`{"webhookTimestamp":1767225600000.0}`), strings.Repeat("0", 64))
	f.Add([]byte(`{"a":"}","webhookTimestamp":1767225600999}`), "")
	f.Add([]byte{}, "zz")
	v := mustNew(f, "linear", Options{Secrets: []string{"other-secret", secret}})
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		before := bytes.Clone(body)
		_, err := v.Verify(&Request{Method: "POST", Header: headers(linearSig, sig), Body: body, Now: now})
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrStaleTimestamp) {
			t.Fatalf("error of no class: %v", err)
		}
		if err == nil || errors.Is(err, ErrMalformed) || errors.Is(err, ErrStaleTimestamp) {
			b, derr := hex.DecodeString(sig)
			if derr != nil || !hmac.Equal(b, sum(sha256.New, secret, body)) {
				t.Fatalf("%q passed the signature check without the HMAC of the body", sig)
			}
		}

		// The same body, genuinely signed.
		_, err = v.Verify(&Request{Method: "POST", Header: headers(linearSig, hexSum(sha256.New, secret, body)), Body: body, Now: now})
		if errors.Is(err, ErrMissingSignature) || errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("genuine signature refused: %v", err)
		}
		if !json.Valid(body) {
			return
		}
		var ms json.Number
		raw, ok := refField(body, "webhookTimestamp")
		wellFormed := ok && json.Unmarshal(raw, &ms) == nil && len(raw) <= 18 && strings.Trim(string(raw), "0123456789") == ""
		switch {
		case !wellFormed && !errors.Is(err, ErrMalformed):
			t.Fatalf("webhookTimestamp %q: err = %v, want %v", raw, err, ErrMalformed)
		case wellFormed:
			n, _ := ms.Int64()
			d := now.Sub(time.UnixMilli(n))
			if timely := d <= DefaultTolerance && d >= -DefaultTolerance; timely != (err == nil) {
				t.Fatalf("webhookTimestamp %s, %s away: err = %v", raw, d, err)
			}
		}
	})
}

// BenchmarkLinear verifies a genuine 1 KiB delivery and a forged one.
func BenchmarkLinear(b *testing.B) {
	now := time.Unix(1767225600, 0)
	const head = `{"action":"update","type":"Issue","webhookTimestamp":1767225600000,"data":{"description":"`
	const tail = `"}}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	run := func(b *testing.B, secret string, wantErr bool) {
		v := mustNew(b, "linear", Options{Secrets: []string{"s"}})
		h := pairs{linearSig, hexSum(sha256.New, secret, body), linearDelivery, "234d1a4e-b617-4388-90fe-adc3633d6b72", linearEvent, "Issue"}
		r := &Request{Method: "POST", Header: h.get, Body: body, Now: now}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := v.Verify(r); (err != nil) != wantErr {
				b.Fatal(err)
			}
		}
	}
	b.Run("genuine", func(b *testing.B) { run(b, "s", false) })
	b.Run("forged", func(b *testing.B) { run(b, "x", true) })
}
