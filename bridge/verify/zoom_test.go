package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// zoomSign is the x-zm-signature of a request, as Zoom's documentation describes it.
func zoomSign(secret, ts string, body []byte) string {
	return "v0=" + hexSum(sha256.New, secret, []byte("v0:"+ts+":"), body)
}

// TestZoomVectors verifies the derived vectors of testdata/zoom, and the answer to the
// URL validation among them.
func TestZoomVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/zoom/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		Secret, Timestamp string
		Cases             []struct {
			Name, Body, Signature, Event string
			PlainToken                   string `json:"plain_token"`
			EncryptedToken               string `json:"encrypted_token"`
		}
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	if len(vec.Cases) != 2 {
		t.Fatalf("%d cases, want 2", len(vec.Cases))
	}
	sec, _ := strconv.ParseInt(vec.Timestamp, 10, 64)
	v := mustNew(t, "zoom", Options{Secrets: []string{vec.Secret}})
	for _, c := range vec.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := post([]byte(c.Body), zoomSig, c.Signature, zoomTimestamp, vec.Timestamp)
			r.Now = time.Unix(sec, 0).Add(time.Minute)
			res, err := v.Verify(r)
			if err != nil {
				t.Fatalf("vector refused: %v", err)
			}
			if res.Event != c.Event || res.DeliveryID != "" {
				t.Fatalf("result %+v, want event %q", res, c.Event)
			}
			if c.PlainToken == "" {
				if res.Reply != nil {
					t.Fatalf("reply %q to an event", res.Reply.Body)
				}
				return
			}
			var got struct{ PlainToken, EncryptedToken string }
			if res.Reply == nil || res.Reply.Status != 200 || res.Reply.ContentType != "application/json" || json.Unmarshal(res.Reply.Body, &got) != nil {
				t.Fatalf("reply %+v", res.Reply)
			}
			if got.PlainToken != c.PlainToken || got.EncryptedToken != c.EncryptedToken {
				t.Fatalf("reply %s, want plainToken %q encryptedToken %q", res.Reply.Body, c.PlainToken, c.EncryptedToken)
			}
		})
	}
}

func TestZoom(t *testing.T) {
	const k1, k2 = "zoom-secret-new", "zoom-secret-old"
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	ts := at(-time.Second)
	body := []byte(`{"event":"meeting.ended","event_ts":1775034000000,"payload":{"object":{"id":"1"}}}`)
	validation := []byte(`{"payload":{"plainToken":"tok-123"},"event_ts":1775034000000,"event":"endpoint.url_validation"}`)
	noToken := []byte(`{"payload":{},"event":"endpoint.url_validation"}`)
	good := zoomSign(k1, ts, body)
	flipped := bytes.Clone(body)
	flipped[3] ^= 1
	base := Options{Secrets: []string{k1, k2}}
	tight := Options{Secrets: []string{k1}, Tolerance: 30 * time.Second}
	sign := func(secret, ts string, body []byte) []string {
		return []string{zoomSig, zoomSign(secret, ts, body), zoomTimestamp, ts}
	}
	tests := []struct {
		name  string
		o     Options
		body  []byte
		kv    []string
		err   error
		reply string // the validation's secret, "" for an event
	}{
		{"genuine", base, body, sign(k1, ts, body), nil, ""},
		{"rotated secret", base, body, sign(k2, ts, body), nil, ""},
		{"uppercase hex", base, body, []string{zoomSig, "v0=" + strings.ToUpper(good[3:]), zoomTimestamp, ts}, nil, ""},
		{"wrong secret", base, body, sign("other", ts, body), ErrInvalidSignature, ""},
		{"flipped body byte", base, flipped, sign(k1, ts, body), ErrInvalidSignature, ""},
		{"timestamp swapped", base, body, []string{zoomSig, good, zoomTimestamp, at(-2 * time.Second)}, ErrInvalidSignature, ""},
		{"missing header", base, body, []string{zoomTimestamp, ts}, ErrMissingSignature, ""},
		{"missing timestamp", base, body, []string{zoomSig, good}, ErrMissingSignature, ""},
		{"malformed header", base, body, []string{zoomSig, "v0=" + strings.Repeat("zz", 32), zoomTimestamp, ts}, ErrInvalidSignature, ""},
		{"no prefix", base, body, []string{zoomSig, good[3:], zoomTimestamp, ts}, ErrInvalidSignature, ""},
		{"other version", base, body, []string{zoomSig, "v1=" + good[3:], zoomTimestamp, ts}, ErrInvalidSignature, ""},
		{"short", base, body, []string{zoomSig, good[:40], zoomTimestamp, ts}, ErrInvalidSignature, ""},
		{"timestamp not a number", base, body, sign(k1, "soon", body), ErrMalformed, ""},
		{"timestamp in milliseconds", base, body, sign(k1, ts+"000", body), ErrStaleTimestamp, ""},
		{"within tolerance", base, body, sign(k1, at(-4*time.Minute), body), nil, ""},
		{"stale", base, body, sign(k1, at(-5*time.Minute-time.Second), body), ErrStaleTimestamp, ""},
		{"future", base, body, sign(k1, at(5*time.Minute+time.Second), body), ErrStaleTimestamp, ""},
		{"stale and forged", base, body, sign("x", at(-time.Hour), body), ErrInvalidSignature, ""},
		{"tolerance option", tight, body, sign(k1, at(-time.Minute), body), ErrStaleTimestamp, ""},
		{"validation genuine", base, validation, sign(k1, ts, validation), nil, k1},
		{"validation rotated secret", base, validation, sign(k2, ts, validation), nil, k2},
		{"validation forged", base, validation, sign("attacker", ts, validation), ErrInvalidSignature, ""},
		{"validation unsigned", base, validation, []string{zoomTimestamp, ts}, ErrMissingSignature, ""},
		{"validation stale", base, validation, sign(k1, at(-time.Hour), validation), ErrStaleTimestamp, ""},
		{"validation without token", base, noToken, sign(k1, ts, noToken), ErrMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "zoom", tt.o)
			before := bytes.Clone(tt.body)
			r := post(tt.body, tt.kv...)
			r.Now = now
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, k1, k2, good[3:])
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
			if err != nil {
				if res.Reply != nil {
					t.Fatal("a refused request was answered")
				}
				return
			}
			if tt.reply == "" {
				if res.Reply != nil || res.Event != "meeting.ended" || res.DeliveryID != "" {
					t.Fatalf("result %+v", res)
				}
				return
			}
			want, _ := json.Marshal(map[string]string{"encryptedToken": hexSum(sha256.New, tt.reply, []byte("tok-123")), "plainToken": "tok-123"})
			var got, exp map[string]string
			if res.Reply == nil || json.Unmarshal(res.Reply.Body, &got) != nil || json.Unmarshal(want, &exp) != nil ||
				len(got) != 2 || got["plainToken"] != exp["plainToken"] || got["encryptedToken"] != exp["encryptedToken"] {
				t.Fatalf("reply %+v, want %s", res.Reply, want)
			}
			if res.Reply.Status != 200 || res.Reply.ContentType != "application/json" || res.Event != zoomValidation {
				t.Fatalf("result %+v", res)
			}
		})
	}
	if s := mustNew(t, "zoom", base).Scheme(); s != "zoom" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestZoomResult covers the event read from verified bodies.
func TestZoomResult(t *testing.T) {
	v := mustNew(t, "zoom", Options{Secrets: []string{"s"}})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	for _, tt := range []struct{ name, body, event string }{
		{"event", `{"event":"recording.completed"}`, "recording.completed"},
		{"no event", `{"payload":{}}`, "zoom"},
		{"event not a string", `{"event":1}`, "zoom"},
		{"not json", `event=x`, "zoom"},
		{"escaped", `{"event":"meeting.st\u0061rted"}`, "meeting.started"},
		{"token escaped", `{"event":"endpoint.url_validation","payload":{"plainToken":"a\"b<"}}`, zoomValidation},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(post([]byte(tt.body), zoomSig, zoomSign("s", ts, []byte(tt.body)), zoomTimestamp, ts))
			if err != nil || res.Event != tt.event {
				t.Fatalf("Verify = %+v, %v; want event %q", res, err, tt.event)
			}
			if res.Reply != nil {
				var got map[string]string
				if json.Unmarshal(res.Reply.Body, &got) != nil || got["plainToken"] != `a"b<` {
					t.Fatalf("reply %s", res.Reply.Body)
				}
			}
		})
	}
}

// TestZoomNew covers the configuration errors of the scheme.
func TestZoomNew(t *testing.T) {
	const secret = "zoom-secret-never-shown"
	for _, tt := range []struct {
		name  string
		o     Options
		field string
		err   error
	}{
		{"no secret", Options{}, "secrets", ErrNoSecret},
		{"empty secret", Options{Secrets: []string{secret, ""}}, "secrets", ErrNoSecret},
		{"negative tolerance", Options{Secrets: []string{secret}, Tolerance: -time.Minute}, "tolerance", ErrInvalidOption},
		{"unused public_url", Options{Secrets: []string{secret}, PublicURL: "https://h/x"}, "public_url", ErrInvalidOption},
		{"unused prefix", Options{Secrets: []string{secret}, Prefix: "v0="}, "prefix", ErrInvalidOption},
	} {
		t.Run(tt.name, func(t *testing.T) { checkFieldErr(t, "zoom", tt.o, tt.field, tt.err, secret) })
	}
}

// FuzzZoom sends random signature and timestamp headers and bodies: Verify must never
// panic or modify the body, must accept only the signature of the timestamp and body, and
// must answer a validation only for a genuine request.
func FuzzZoom(f *testing.F) {
	const secret = "fuzz-secret"
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	ts := strconv.FormatInt(now.Unix(), 10)
	validation := []byte(`{"event":"endpoint.url_validation","payload":{"plainToken":"x"}}`)
	f.Add(validation, zoomSign(secret, ts, validation), ts)
	f.Add([]byte(`{"event":"meeting.started"}`), "v0=", "")
	f.Add([]byte{}, "v0="+strings.Repeat("0", 64), "-1")
	f.Add([]byte(`{"event":"endpoint.url_validation","payload":{"plainToken":""}}`), "v0=zz", "99999999999999999999")
	v := mustNew(f, "zoom", Options{Secrets: []string{"other", secret}})
	f.Fuzz(func(t *testing.T, body []byte, sig, stamp string) {
		before := bytes.Clone(body)
		r := post(body, zoomSig, sig, zoomTimestamp, stamp)
		r.Now = now
		res, err := v.Verify(r)
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrStaleTimestamp) {
			t.Fatalf("error of no class: %v", err)
		}
		if err != nil && res.Reply != nil {
			t.Fatal("a refused request was answered")
		}
		if err == nil {
			d, ok := strings.CutPrefix(sig, "v0=")
			got, derr := hex.DecodeString(d)
			want := sum(sha256.New, secret, []byte("v0:"+stamp+":"), body)
			if !ok || derr != nil || !hmac.Equal(got, want) {
				t.Fatalf("accepted %q, which is not the request's signature", sig)
			}
		}

		// The same request, genuinely signed.
		if stamp == "" || strings.ContainsAny(stamp, "\r\n\x00") {
			return
		}
		r.Header = headers(zoomSig, zoomSign(secret, stamp, body), zoomTimestamp, stamp)
		res, err = v.Verify(r)
		sec, perr := strconv.ParseInt(stamp, 10, 64)
		fresh := perr == nil && sec >= 0 && checkTimestamp(now, time.Unix(sec, 0), 0) == nil
		if !fresh {
			if err == nil {
				t.Fatalf("timestamp %q accepted", stamp)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("genuine request refused: %v", err)
		}
		if res.Reply != nil {
			var out struct{ PlainToken, EncryptedToken string }
			if json.Unmarshal(res.Reply.Body, &out) != nil {
				t.Fatalf("reply %q is not JSON", res.Reply.Body)
			}
			if json.Valid(body) {
				payload, _ := refField(body, "payload")
				raw, _ := refField(payload, "plainToken")
				var in string
				if json.Unmarshal(raw, &in) != nil || in != out.PlainToken {
					t.Fatalf("reply %q does not echo the plain token", res.Reply.Body)
				}
			}
			if out.EncryptedToken != hexSum(sha256.New, secret, []byte(out.PlainToken)) {
				t.Fatalf("reply %q: wrong encrypted token", res.Reply.Body)
			}
		}
	})
}

// BenchmarkZoom verifies a genuine 1 KiB event.
func BenchmarkZoom(b *testing.B) {
	const head, tail = `{"event":"meeting.started","payload":{"object":{"topic":"`, `"}}}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	v := mustNew(b, "zoom", Options{Secrets: []string{"s"}})
	h := pairs{zoomSig, zoomSign("s", ts, body), zoomTimestamp, ts}
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
