package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestShopifyVectors checks testdata/shopify (see its README).
func TestShopifyVectors(t *testing.T) { testSignedVectors(t, "shopify", "shopify") }

func TestShopify(t *testing.T) {
	body := []byte(`{"id":820982911946154508,"email":"jon@example.com","total_price":"398.00"}`)
	const secret, old = "shopify-client-secret-current", "shopify-client-secret-rotated"
	b64 := func(secret string, body []byte) string {
		return base64.StdEncoding.EncodeToString(sum(sha256.New, secret, body))
	}
	good := b64(secret, body)
	flipped := bytes.Clone(body)
	flipped[8] ^= 0x01

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
		{"wrong secret", one, body, b64("not-the-secret", body), ErrInvalidSignature},
		{"one flipped body byte", one, flipped, good, ErrInvalidSignature},
		{"missing header", one, body, "", ErrMissingSignature},
		{"malformed header", one, body, "sha256=" + good, ErrInvalidSignature},
		// Shopify signs no timestamp: a stale or future delivery cannot be told apart (see
		// TestShopifyResult), and the tolerance option is refused (TestNewProviderSchemes).
		{"rotated secret", rotating, body, b64(old, body), nil},

		{"unpadded", one, body, strings.TrimRight(good, "="), nil},
		{"url-safe alphabet", one, body, base64.RawURLEncoding.EncodeToString(sum(sha256.New, secret, body)), nil},
		{"hex instead of base64", one, body, hexSum(sha256.New, secret, body), ErrInvalidSignature},
		{"short", one, body, good[:40], ErrInvalidSignature},
		{"sha1 length", one, body, base64.StdEncoding.EncodeToString(make([]byte, 20)), ErrInvalidSignature},
		{"two signatures", one, body, good + "," + good, ErrInvalidSignature},
		{"empty body signed", one, nil, b64(secret, nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "shopify", tt.o)
			r := post(tt.body, shopifySig, tt.sig, shopifyTopic, "orders/create", shopifyWebhookID, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
			before := bytes.Clone(tt.body)
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, secret, old, good)
			if err == nil && (res.DeliveryID != "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" || res.Event != "orders.create" || res.Reply != nil) {
				t.Fatalf("Verify = %+v", res)
			}
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
		})
	}
	if s := mustNew(t, "shopify", one).Scheme(); s != "shopify" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestShopifyResult covers the delivery id and event read from the headers.
func TestShopifyResult(t *testing.T) {
	body := []byte(`{}`)
	const secret = "shopify-result-secret"
	sig := base64.StdEncoding.EncodeToString(sum(sha256.New, secret, body))
	v := mustNew(t, "shopify", Options{Secrets: []string{secret}})
	for _, tt := range []struct {
		name      string
		kv        []string
		id, event string
		err       error
	}{
		{"webhook id", []string{shopifyTopic, "app/uninstalled", shopifyWebhookID, "w-1", shopifyEventID, "e-1"}, "w-1", "app.uninstalled", nil},
		{"event id fallback", []string{shopifyTopic, "customers_marketing_consent/update", shopifyEventID, "e-1"}, "e-1", "customers_marketing_consent.update", nil},
		{"no id", []string{shopifyTopic, "orders/paid"}, "", "orders.paid", nil},
		{"topic without slash", []string{shopifyTopic, "ping"}, "", "ping", nil},
		{"no topic", []string{shopifyWebhookID, "w-1"}, "", "", ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(post(body, append([]string{shopifySig, sig}, tt.kv...)...))
			checkErr(t, err, tt.err, secret)
			if err == nil && (res.DeliveryID != tt.id || res.Event != tt.event) {
				t.Fatalf("Verify = %+v; want id %q event %q", res, tt.id, tt.event)
			}
		})
	}
	// Shopify signs nothing but the body: its X-Shopify-Triggered-At is not covered, so no
	// clock is read and a delivery can be neither stale nor from the future.
	for name, now := range map[string]time.Time{
		"stale timestamp (none signed)":  time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		"future timestamp (none signed)": time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		t.Run(name, func(t *testing.T) {
			r := post(body, shopifySig, sig, shopifyTopic, "orders/create", "X-Shopify-Triggered-At", "2026-01-01T00:00:00Z")
			r.Now = now
			if _, err := v.Verify(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzShopify sends random signature headers, topics and bodies: Verify must never panic or
// modify the body, must let through only a base64 encoding of the body's HMAC, and must
// accept the genuine one.
func FuzzShopify(f *testing.F) {
	const secret = "fuzz-secret"
	body := []byte(`{"id":1}`)
	mac := sum(sha256.New, secret, body)
	f.Add(body, base64.StdEncoding.EncodeToString(mac), "orders/create")
	f.Add(body, base64.RawURLEncoding.EncodeToString(mac), "a//b")
	f.Add([]byte{}, "====", "")
	f.Add([]byte("x"), "ab+_", "x")
	v := mustNew(f, "shopify", Options{Secrets: []string{"other-secret", secret}})
	f.Fuzz(func(t *testing.T, body []byte, sig, topic string) {
		before := bytes.Clone(body)
		_, err := v.Verify(post(body, shopifySig, sig, shopifyTopic, topic))
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error of no class: %v", err)
		}
		if err == nil || errors.Is(err, ErrMalformed) {
			want := sum(sha256.New, secret, body)
			genuine := false
			for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
				b, derr := enc.DecodeString(strings.TrimRight(sig, "="))
				genuine = genuine || derr == nil && hmac.Equal(b, want)
			}
			if !genuine {
				t.Fatalf("accepted %q, which is no encoding of the body's HMAC", sig)
			}
		}
		res, err := v.Verify(post(body, shopifySig, base64.StdEncoding.EncodeToString(sum(sha256.New, secret, body)), shopifyTopic, topic))
		switch {
		case topic == "" && !errors.Is(err, ErrMalformed):
			t.Fatalf("no topic: err = %v", err)
		case topic != "" && err != nil:
			t.Fatalf("genuine signature refused: %v", err)
		case topic != "" && res.Event != strings.ReplaceAll(topic, "/", "."):
			t.Fatalf("event %q of topic %q", res.Event, topic)
		}
	})
}

// BenchmarkShopify verifies a genuine 1 KiB delivery and a forged one.
func BenchmarkShopify(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	run := func(b *testing.B, secret string, wantErr bool) {
		v := mustNew(b, "shopify", Options{Secrets: []string{"s"}})
		h := pairs{shopifySig, base64.StdEncoding.EncodeToString(sum(sha256.New, secret, body)),
			shopifyTopic, "orders/create", shopifyWebhookID, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}
		r := &Request{Method: "POST", Header: h.get, Body: body}
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
