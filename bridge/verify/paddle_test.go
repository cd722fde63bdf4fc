package verify

import (
	"bytes"
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPaddleVectors checks testdata/paddle: the signatures of Paddle's own SDK tests.
func TestPaddleVectors(t *testing.T) { testSignedVectors(t, "paddle", "paddle") }

func TestPaddle(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := []byte(`{"event_id":"evt_01hv8x","event_type":"transaction.completed","occurred_at":"2026-01-01T00:00:00Z","notification_id":"ntf_01hv8y","data":{"id":"txn_01"}}`)
	const secret, old = "pdl_ntfset_01hv_currentSecretKey", "pdl_ntfset_01hu_rolledOutSecretKey"
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	h1 := func(secret, ts string, body []byte) string { return hexSum(sha256.New, secret, []byte(ts+":"), body) }
	ts := at(0)
	good := h1(secret, ts, body)
	flipped := bytes.Clone(body)
	flipped[30] ^= 0x01
	stale, future := at(-DefaultTolerance-time.Second), at(DefaultTolerance+time.Second)

	one := Options{Secrets: []string{secret}}
	rotating := Options{Secrets: []string{secret, old}}
	tests := []struct {
		name   string
		o      Options
		body   []byte
		header string
		err    error
	}{
		{"genuine", one, body, "ts=" + ts + ";h1=" + good, nil},
		{"wrong secret", one, body, "ts=" + ts + ";h1=" + h1("pdl_ntfset_other", ts, body), ErrInvalidSignature},
		{"one flipped body byte", one, flipped, "ts=" + ts + ";h1=" + good, ErrInvalidSignature},
		{"missing header", one, body, "", ErrMissingSignature},
		{"malformed header", one, body, "ts:" + ts + ";h1:" + good, ErrInvalidSignature},
		{"stale timestamp", one, body, "ts=" + stale + ";h1=" + h1(secret, stale, body), ErrStaleTimestamp},
		{"future timestamp", one, body, "ts=" + future + ";h1=" + h1(secret, future, body), ErrStaleTimestamp},
		{"rotated secret", rotating, body, "ts=" + ts + ";h1=" + h1(old, ts, body), nil},

		{"several h1, one matches", one, body, "ts=" + ts + ";h1=" + h1("x", ts, body) + ";h1=" + good, nil},
		{"unreadable h1 ignored", one, body, "ts=" + ts + ";h1=dummy;h1=" + good, nil},
		{"commas are not separators", one, body, "ts=" + ts + ",h1=" + good, ErrInvalidSignature},
		{"stripe's dot joins nothing here", one, body, "ts=" + ts + ";h1=" + hexSum(sha256.New, secret, []byte(ts+"."), body), ErrInvalidSignature},
		{"no ts", one, body, "h1=" + good, ErrInvalidSignature},
		{"two ts", one, body, "ts=" + ts + ";ts=" + ts + ";h1=" + good, ErrInvalidSignature},
		{"ts in milliseconds", one, body, "ts=" + ts + "000;h1=" + h1(secret, ts+"000", body), ErrStaleTimestamp},
		{"no h1", one, body, "ts=" + ts, ErrInvalidSignature},
		{"tolerance option", Options{Secrets: []string{secret}, Tolerance: 30 * time.Second}, body, "ts=" + at(-time.Minute) + ";h1=" + h1(secret, at(-time.Minute), body), ErrStaleTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "paddle", tt.o)
			r := post(tt.body, paddleSig, tt.header)
			r.Now = now
			before := bytes.Clone(tt.body)
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, secret, old, good)
			if err == nil && (res.DeliveryID != "ntf_01hv8y" || res.Event != "transaction.completed" || res.Reply != nil) {
				t.Fatalf("Verify = %+v", res)
			}
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
		})
	}
	if s := mustNew(t, "paddle", one).Scheme(); s != "paddle" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestPaddleResult covers the delivery id and event read from verified bodies.
func TestPaddleResult(t *testing.T) {
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	v := mustNew(t, "paddle", Options{Secrets: []string{"k"}})
	for _, tt := range []struct {
		name, body, id, event string
	}{
		{"notification id", `{"event_id":"evt_1","event_type":"subscription.created","notification_id":"ntf_1"}`, "ntf_1", "subscription.created"},
		{"event id without notification id", `{"event_id":"evt_1","event_type":"subscription.created"}`, "evt_1", "subscription.created"},
		{"notification id empty", `{"notification_id":"","event_id":"evt_2"}`, "evt_2", ""},
		{"notification id not a string", `{"notification_id":null,"event_id":"evt_3"}`, "evt_3", ""},
		{"nothing", `{"data":{"event_type":"x","notification_id":"y"}}`, "", ""},
		{"not json", `hello-world`, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			r := post(body, paddleSig, "ts="+ts+";h1="+hexSum(sha256.New, "k", []byte(ts+":"), body))
			r.Now = now
			res, err := v.Verify(r)
			if err != nil || res.DeliveryID != tt.id || res.Event != tt.event {
				t.Fatalf("Verify = %+v, %v; want id %q event %q", res, err, tt.id, tt.event)
			}
		})
	}
}

// FuzzPaddle fuzzes the Paddle-Signature parser and the body fields (see fuzzStripeStyle).
func FuzzPaddle(f *testing.F) {
	fuzzStripeStyle(f, "paddle", paddleSig, ";", "ts", "h1", ":", paddleNotificationKey, paddleTypeKey)
}

// BenchmarkPaddle verifies a genuine 1 KiB notification and a forged one.
func BenchmarkPaddle(b *testing.B) {
	const head, tail = `{"event_id":"evt_01hv8x","event_type":"transaction.completed","data":{"note":"`, `"},"notification_id":"ntf_01hv8y"}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	run := func(b *testing.B, secret string, wantErr bool) {
		v := mustNew(b, "paddle", Options{Secrets: []string{"pdl_ntfset_s"}})
		h := pairs{paddleSig, "ts=" + ts + ";h1=" + hexSum(sha256.New, secret, []byte(ts+":"), body)}
		r := &Request{Method: "POST", Header: h.get, Body: body, Now: now}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := v.Verify(r); (err != nil) != wantErr {
				b.Fatal(err)
			}
		}
	}
	b.Run("genuine", func(b *testing.B) { run(b, "pdl_ntfset_s", false) })
	b.Run("forged", func(b *testing.B) { run(b, "pdl_ntfset_x", true) })
}
