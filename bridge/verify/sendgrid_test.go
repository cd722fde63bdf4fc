package verify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sendGridVector is testdata/sendgrid/vectors.json.
type sendGridVector struct {
	PublicKey      string `json:"public_key"`
	OtherPublicKey string `json:"other_public_key"`
	Timestamp      string
	Payload        string
	Signature      string
	BadSignature   string `json:"bad_signature"`
}

func readSendGridVector(t testing.TB) sendGridVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/sendgrid/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec sendGridVector
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	return vec
}

// sendGridPEM wraps a base64 DER key in a PEM block.
func sendGridPEM(b64 string) string {
	der, _ := base64.StdEncoding.DecodeString(b64)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sendGridKey makes a P-256 key pair for the tests, the public half base64 DER.
func sendGridKey(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return priv, base64.StdEncoding.EncodeToString(der)
}

// sendGridSign is the signature header of a request.
func sendGridSign(t testing.TB, priv *ecdsa.PrivateKey, ts string, body []byte) string {
	t.Helper()
	digest := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// TestSendGridVectors verifies the published SendGrid signature, with the key as base64
// and as PEM (see testdata/sendgrid/README.md for its source).
func TestSendGridVectors(t *testing.T) {
	vec := readSendGridVector(t)
	sec, _ := strconv.ParseInt(vec.Timestamp, 10, 64)
	now := time.Unix(sec, 0).Add(time.Minute)
	for _, tt := range []struct {
		name, key, sig, payload string
		err                     error
	}{
		{"base64 key", vec.PublicKey, vec.Signature, vec.Payload, nil},
		{"pem key", sendGridPEM(vec.PublicKey), vec.Signature, vec.Payload, nil},
		{"other key", vec.OtherPublicKey, vec.Signature, vec.Payload, ErrInvalidSignature},
		{"bad signature", vec.PublicKey, vec.BadSignature, vec.Payload, ErrInvalidSignature},
		{"bad payload", vec.PublicKey, vec.Signature, "payload", ErrInvalidSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "sendgrid", Options{PublicKey: tt.key})
			r := post([]byte(tt.payload), sendGridSig, tt.sig, sendGridTimestamp, vec.Timestamp)
			r.Now = now
			res, err := v.Verify(r)
			checkErr(t, err, tt.err)
			if err == nil && (res.Event != "sendgrid.events" || res.DeliveryID != "" || res.Reply != nil) {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

func TestSendGrid(t *testing.T) {
	priv, pub := sendGridKey(t)
	other, _ := sendGridKey(t)
	now := time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	ts := at(-time.Second)
	body := []byte(`[{"email":"ada@example.com","event":"delivered","sg_event_id":"sg1","timestamp":1782885600}]`)
	good := sendGridSign(t, priv, ts, body)
	flipped := bytes.Clone(body)
	flipped[4] ^= 1
	der, _ := base64.StdEncoding.DecodeString(good)
	base := Options{PublicKey: pub}
	tight := Options{PublicKey: pub, Tolerance: 10 * time.Second}
	sign := func(k *ecdsa.PrivateKey, ts string, body []byte) []string {
		return []string{sendGridSig, sendGridSign(t, k, ts, body), sendGridTimestamp, ts}
	}
	tests := []struct {
		name string
		o    Options
		body []byte
		kv   []string
		err  error
	}{
		{"genuine", base, body, sign(priv, ts, body), nil},
		{"pem key", Options{PublicKey: sendGridPEM(pub)}, body, sign(priv, ts, body), nil},
		{"wrapped base64 key", Options{PublicKey: pub[:40] + "\n  " + pub[40:]}, body, sign(priv, ts, body), nil},
		{"unpadded signature", base, body, []string{sendGridSig, strings.TrimRight(good, "="), sendGridTimestamp, ts}, nil},
		{"wrong key", base, body, sign(other, ts, body), ErrInvalidSignature},
		{"flipped body byte", base, flipped, sign(priv, ts, body), ErrInvalidSignature},
		{"timestamp swapped", base, body, []string{sendGridSig, good, sendGridTimestamp, at(-2 * time.Second)}, ErrInvalidSignature},
		{"missing header", base, body, []string{sendGridTimestamp, ts}, ErrMissingSignature},
		{"missing timestamp", base, body, []string{sendGridSig, good}, ErrMissingSignature},
		{"malformed header", base, body, []string{sendGridSig, "!!" + good[2:], sendGridTimestamp, ts}, ErrInvalidSignature},
		{"url-safe alphabet", base, body, []string{sendGridSig, base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 70)), sendGridTimestamp, ts}, ErrInvalidSignature},
		{"too long", base, body, []string{sendGridSig, base64.StdEncoding.EncodeToString(append(der, make([]byte, 40)...)), sendGridTimestamp, ts}, ErrInvalidSignature},
		{"not asn1", base, body, []string{sendGridSig, base64.StdEncoding.EncodeToString(make([]byte, 64)), sendGridTimestamp, ts}, ErrInvalidSignature},
		{"timestamp not a number", base, body, sign(priv, "1e9", body), ErrMalformed},
		{"within tolerance", base, body, sign(priv, at(-4*time.Minute), body), nil},
		{"stale", base, body, sign(priv, at(-5*time.Minute-time.Second), body), ErrStaleTimestamp},
		{"future", base, body, sign(priv, at(5*time.Minute+time.Second), body), ErrStaleTimestamp},
		{"stale and forged", base, body, sign(other, at(-time.Hour), body), ErrInvalidSignature},
		{"tolerance option", tight, body, sign(priv, at(-time.Minute), body), ErrStaleTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "sendgrid", tt.o)
			before := bytes.Clone(tt.body)
			r := post(tt.body, tt.kv...)
			r.Now = now
			res, err := v.Verify(r)
			checkErr(t, err, tt.err)
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
			if err == nil && (res.Event != "sendgrid.events" || res.DeliveryID != "" || res.Reply != nil) {
				t.Fatalf("result %+v", res)
			}
		})
	}
	if s := mustNew(t, "sendgrid", base).Scheme(); s != "sendgrid" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestSendGridNew covers the configuration errors of the scheme; it takes no secrets.
func TestSendGridNew(t *testing.T) {
	vec := readSendGridVector(t)
	const secret = "sendgrid-api-key-never-shown"
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	b64 := base64.StdEncoding.EncodeToString
	for _, tt := range []struct {
		name  string
		o     Options
		field string
		err   error
	}{
		{"no public_key", Options{}, "public_key", ErrInvalidOption},
		{"blank public_key", Options{PublicKey: " \n"}, "public_key", ErrInvalidOption},
		{"not base64", Options{PublicKey: secret + "!"}, "public_key", ErrInvalidOption},
		{"base64 of junk", Options{PublicKey: b64([]byte(secret))}, "public_key", ErrInvalidOption},
		{"rsa key", Options{PublicKey: b64(rsaDER)}, "public_key", ErrInvalidOption},
		{"p384 key", Options{PublicKey: b64(p384DER)}, "public_key", ErrInvalidOption},
		{"ed25519 key", Options{PublicKey: b64(edDER)}, "public_key", ErrInvalidOption},
		{"pem of wrong type", Options{PublicKey: strings.ReplaceAll(sendGridPEM(vec.PublicKey), "PUBLIC KEY", "EC PRIVATE KEY")}, "public_key", ErrInvalidOption},
		{"two pem blocks", Options{PublicKey: sendGridPEM(vec.PublicKey) + sendGridPEM(vec.PublicKey)}, "public_key", ErrInvalidOption},
		{"broken pem", Options{PublicKey: "-----BEGIN PUBLIC KEY-----\n" + secret}, "public_key", ErrInvalidOption},
		{"secrets given", Options{PublicKey: vec.PublicKey, Secrets: []string{secret}}, "secrets", ErrInvalidOption},
		{"negative tolerance", Options{PublicKey: vec.PublicKey, Tolerance: -time.Second}, "tolerance", ErrInvalidOption},
		{"unused header", Options{PublicKey: vec.PublicKey, Header: "X-Sig"}, "header", ErrInvalidOption},
	} {
		t.Run(tt.name, func(t *testing.T) { checkFieldErr(t, "sendgrid", tt.o, tt.field, tt.err, secret) })
	}
}

// FuzzSendGrid sends random signature and timestamp headers and bodies to a verifier with
// SendGrid's published key: Verify must never panic or modify the body, and must accept
// only a signature the key verifies over timestamp and body.
func FuzzSendGrid(f *testing.F) {
	vec := readSendGridVector(f)
	f.Add([]byte(vec.Payload), vec.Signature, vec.Timestamp)
	f.Add([]byte(vec.Payload), vec.BadSignature, vec.Timestamp)
	f.Add([]byte{}, "MEUCIQ", "")
	f.Add([]byte(`[]`), strings.Repeat("A", 200), "-1")
	f.Add([]byte(`[]`), "====", "99999999999999999999")
	v := mustNew(f, "sendgrid", Options{PublicKey: vec.PublicKey})
	key, _ := parseSendGridKey(vec.PublicKey)
	sec, _ := strconv.ParseInt(vec.Timestamp, 10, 64)
	now := time.Unix(sec, 0)
	f.Fuzz(func(t *testing.T, body []byte, sig, stamp string) {
		before := bytes.Clone(body)
		r := post(body, sendGridSig, sig, sendGridTimestamp, stamp)
		r.Now = now
		_, err := v.Verify(r)
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrStaleTimestamp) {
			t.Fatalf("error of no class: %v", err)
		}
		if err == nil {
			der, derr := base64.RawStdEncoding.DecodeString(strings.TrimRight(sig, "="))
			digest := sha256.Sum256(append([]byte(stamp), body...))
			if derr != nil || !ecdsa.VerifyASN1(key, digest[:], der) {
				t.Fatalf("accepted %q, which the key does not verify", sig)
			}
		}
	})
}

// BenchmarkSendGrid verifies a genuine 1 KiB batch.
func BenchmarkSendGrid(b *testing.B) {
	priv, pub := sendGridKey(b)
	const head, tail = `[{"event":"delivered","email":"`, `@example.com"}]`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	v := mustNew(b, "sendgrid", Options{PublicKey: pub})
	h := pairs{sendGridSig, sendGridSign(b, priv, ts, body), sendGridTimestamp, ts}
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
