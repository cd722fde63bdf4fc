package verify

import (
	"bytes"
	"crypto/ed25519"
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

// discordKey is a test key pair: the private key from a fixed seed.
func discordKey(seed string) (ed25519.PrivateKey, string) {
	s := sha256.Sum256([]byte(seed))
	priv := ed25519.NewKeyFromSeed(s[:])
	return priv, hex.EncodeToString(priv.Public().(ed25519.PublicKey))
}

// discordSign is the X-Signature-Ed25519 of a request.
func discordSign(priv ed25519.PrivateKey, ts string, body []byte) string {
	return hex.EncodeToString(ed25519.Sign(priv, append([]byte(ts), body...)))
}

// TestDiscordVectors verifies the derived vectors of testdata/discord, signed outside Go.
func TestDiscordVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/discord/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		Seed      string
		PublicKey string `json:"public_key"`
		Timestamp string
		Cases     []struct{ Name, Body, Signature, ID, Event string }
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	if len(vec.Cases) != 2 {
		t.Fatalf("%d cases, want 2", len(vec.Cases))
	}
	seed, err := hex.DecodeString(vec.Seed)
	if err != nil || hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)) != vec.PublicKey {
		t.Fatal("the seed does not yield the public key")
	}
	sec, _ := strconv.ParseInt(vec.Timestamp, 10, 64)
	v := mustNew(t, "discord", Options{PublicKey: vec.PublicKey})
	for _, c := range vec.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r := post([]byte(c.Body), discordSig, c.Signature, discordTimestamp, vec.Timestamp)
			r.Now = time.Unix(sec, 0).Add(time.Minute)
			res, err := v.Verify(r)
			if err != nil {
				t.Fatalf("vector refused: %v", err)
			}
			if res.Event != c.Event || res.DeliveryID != c.ID {
				t.Fatalf("result %+v, want event %q id %q", res, c.Event, c.ID)
			}
			if (res.Reply != nil) != (c.Event == "interaction.ping") {
				t.Fatalf("reply %+v", res.Reply)
			}
		})
	}
}

func TestDiscord(t *testing.T) {
	priv, pub := discordKey("discord test key")
	other, otherPub := discordKey("another application")
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	ts := at(-time.Second)
	body := []byte(`{"id":"1160000000000000200","type":2,"data":{"name":"triage"},"token":"t"}`)
	ping := []byte(`{"id":"1160000000000000100","type":1,"token":"t"}`)
	good := discordSign(priv, ts, body)
	flipped := bytes.Clone(body)
	flipped[8] ^= 1
	base := Options{PublicKey: pub}
	upper := Options{PublicKey: strings.ToUpper(pub)}
	tight := Options{PublicKey: pub, Tolerance: 10 * time.Second}
	sign := func(k ed25519.PrivateKey, ts string, body []byte) []string {
		return []string{discordSig, discordSign(k, ts, body), discordTimestamp, ts}
	}
	tests := []struct {
		name  string
		o     Options
		body  []byte
		kv    []string
		err   error
		event string
	}{
		{"genuine", base, body, sign(priv, ts, body), nil, "interaction.application_command"},
		{"uppercase key and signature", upper, body, []string{discordSig, strings.ToUpper(good), discordTimestamp, ts}, nil, "interaction.application_command"},
		{"wrong key", base, body, sign(other, ts, body), ErrInvalidSignature, ""},
		{"other application's key", Options{PublicKey: otherPub}, body, sign(priv, ts, body), ErrInvalidSignature, ""},
		{"flipped body byte", base, flipped, sign(priv, ts, body), ErrInvalidSignature, ""},
		{"timestamp swapped", base, body, []string{discordSig, good, discordTimestamp, at(-2 * time.Second)}, ErrInvalidSignature, ""},
		{"missing header", base, body, []string{discordTimestamp, ts}, ErrMissingSignature, ""},
		{"missing timestamp", base, body, []string{discordSig, good}, ErrMissingSignature, ""},
		{"malformed header", base, body, []string{discordSig, "zz" + good[2:], discordTimestamp, ts}, ErrInvalidSignature, ""},
		{"short signature", base, body, []string{discordSig, good[:126], discordTimestamp, ts}, ErrInvalidSignature, ""},
		{"long signature", base, body, []string{discordSig, good + "00", discordTimestamp, ts}, ErrInvalidSignature, ""},
		{"zero signature", base, body, []string{discordSig, strings.Repeat("0", 128), discordTimestamp, ts}, ErrInvalidSignature, ""},
		{"timestamp not a number", base, body, sign(priv, "now", body), ErrMalformed, ""},
		{"within tolerance", base, body, sign(priv, at(-4*time.Minute), body), nil, "interaction.application_command"},
		{"stale", base, body, sign(priv, at(-5*time.Minute-time.Second), body), ErrStaleTimestamp, ""},
		{"future", base, body, sign(priv, at(5*time.Minute+time.Second), body), ErrStaleTimestamp, ""},
		{"stale and forged", base, body, sign(other, at(-time.Hour), body), ErrInvalidSignature, ""},
		{"tolerance option", tight, body, sign(priv, at(-time.Minute), body), ErrStaleTimestamp, ""},
		{"ping genuine", base, ping, sign(priv, ts, ping), nil, "interaction.ping"},
		{"ping forged", base, ping, sign(other, ts, ping), ErrInvalidSignature, ""},
		{"ping unsigned", base, ping, []string{discordTimestamp, ts}, ErrMissingSignature, ""},
		{"ping stale", base, ping, sign(priv, at(-time.Hour), ping), ErrStaleTimestamp, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "discord", tt.o)
			before := bytes.Clone(tt.body)
			r := post(tt.body, tt.kv...)
			r.Now = now
			res, err := v.Verify(r)
			checkErr(t, err, tt.err)
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
			if err != nil {
				if res.Reply != nil {
					t.Fatal("a refused request was answered")
				}
				return
			}
			if res.Event != tt.event {
				t.Fatalf("event %q, want %q", res.Event, tt.event)
			}
			var id struct{ ID string }
			if json.Unmarshal(tt.body, &id) != nil || res.DeliveryID != id.ID {
				t.Fatalf("delivery id %q, want %q", res.DeliveryID, id.ID)
			}
			if tt.event != "interaction.ping" {
				if res.Reply != nil {
					t.Fatalf("reply %q to an interaction", res.Reply.Body)
				}
				return
			}
			if res.Reply == nil || res.Reply.Status != 200 || res.Reply.ContentType != "application/json" || string(res.Reply.Body) != `{"type":1}` {
				t.Fatalf("reply %+v", res.Reply)
			}
		})
	}
	if s := mustNew(t, "discord", base).Scheme(); s != "discord" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestDiscordResult covers the event and delivery id read from verified bodies.
func TestDiscordResult(t *testing.T) {
	priv, pub := discordKey("discord test key")
	v := mustNew(t, "discord", Options{PublicKey: pub})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	for _, tt := range []struct{ name, body, id, event string }{
		{"command", `{"type":2,"id":"9"}`, "9", "interaction.application_command"},
		{"component", `{"type":3,"id":"9"}`, "9", "interaction.message_component"},
		{"autocomplete", `{"type":4,"id":"9"}`, "9", "interaction.application_command_autocomplete"},
		{"modal", `{"type":5,"id":"9"}`, "9", "interaction.modal_submit"},
		{"unknown type", `{"type":17,"id":"9"}`, "9", "interaction.17"},
		{"type not a number", `{"type":"2","id":"9"}`, "9", "interaction"},
		{"type negative", `{"type":-1}`, "", "interaction"},
		{"type fraction", `{"type":2.5}`, "", "interaction"},
		{"id not a string", `{"type":2,"id":9}`, "", "interaction.application_command"},
		{"no fields", `{}`, "", "interaction"},
		{"not json", `type=1`, "", "interaction"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(post([]byte(tt.body), discordSig, discordSign(priv, ts, []byte(tt.body)), discordTimestamp, ts))
			if err != nil || res.Event != tt.event || res.DeliveryID != tt.id || res.Reply != nil {
				t.Fatalf("Verify = %+v, %v; want id %q event %q", res, err, tt.id, tt.event)
			}
		})
	}
}

// TestDiscordNew covers the configuration errors of the scheme; it takes no secrets.
func TestDiscordNew(t *testing.T) {
	_, pub := discordKey("discord test key")
	const secret = "bot-token-never-shown"
	for _, tt := range []struct {
		name  string
		o     Options
		field string
		err   error
	}{
		{"no public_key", Options{}, "public_key", ErrInvalidOption},
		{"public_key not hex", Options{PublicKey: "zz" + pub[2:]}, "public_key", ErrInvalidOption},
		{"public_key short", Options{PublicKey: pub[:62]}, "public_key", ErrInvalidOption},
		{"public_key long", Options{PublicKey: pub + "00"}, "public_key", ErrInvalidOption},
		{"secret as public_key", Options{PublicKey: secret}, "public_key", ErrInvalidOption},
		{"secrets given", Options{PublicKey: pub, Secrets: []string{secret}}, "secrets", ErrInvalidOption},
		{"negative tolerance", Options{PublicKey: pub, Tolerance: -time.Second}, "tolerance", ErrInvalidOption},
		{"unused public_url", Options{PublicKey: pub, PublicURL: "https://h/x"}, "public_url", ErrInvalidOption},
	} {
		t.Run(tt.name, func(t *testing.T) { checkFieldErr(t, "discord", tt.o, tt.field, tt.err, secret) })
	}
	if _, err := New("discord", Options{PublicKey: " " + pub + "\n"}); err != nil {
		t.Fatalf("public key with surrounding space: %v", err)
	}
}

// FuzzDiscord sends random signature and timestamp headers and bodies: Verify must never
// panic or modify the body, must accept only a signature the key made over timestamp and
// body, and must answer a PING only when it is genuine.
func FuzzDiscord(f *testing.F) {
	priv, pub := discordKey("fuzz key")
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	ts := strconv.FormatInt(now.Unix(), 10)
	ping := []byte(`{"type":1,"id":"1"}`)
	f.Add(ping, discordSign(priv, ts, ping), ts)
	f.Add([]byte(`{"type":2}`), strings.Repeat("0", 128), "")
	f.Add([]byte{}, "zz", "-1")
	f.Add([]byte(`{"type":1`), strings.Repeat("f", 130), "99999999999999999999")
	v := mustNew(f, "discord", Options{PublicKey: pub})
	key := priv.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, body []byte, sig, stamp string) {
		before := bytes.Clone(body)
		r := post(body, discordSig, sig, discordTimestamp, stamp)
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
			s, derr := hex.DecodeString(sig)
			if derr != nil || !ed25519.Verify(key, append([]byte(stamp), body...), s) {
				t.Fatalf("accepted %q, which the key did not sign", sig)
			}
		}

		// The same request, genuinely signed.
		if stamp == "" || strings.ContainsAny(stamp, "\r\n\x00") {
			return
		}
		r.Header = headers(discordSig, discordSign(priv, stamp, body), discordTimestamp, stamp)
		res, err = v.Verify(r)
		sec, perr := strconv.ParseInt(stamp, 10, 64)
		fresh := perr == nil && sec >= 0 && checkTimestamp(now, time.Unix(sec, 0), 0) == nil
		if fresh != (err == nil) {
			t.Fatalf("genuine request with timestamp %q: err = %v", stamp, err)
		}
		if typ, ok := refField(body, "type"); err == nil && json.Valid(body) && (ok && string(typ) == "1") != (res.Reply != nil) {
			t.Fatalf("type %s answered %+v", typ, res.Reply)
		}
	})
}

// BenchmarkDiscord verifies a genuine 1 KiB interaction.
func BenchmarkDiscord(b *testing.B) {
	priv, pub := discordKey("bench key")
	const head, tail = `{"id":"1160000000000000200","type":2,"data":{"name":"`, `"}}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	v := mustNew(b, "discord", Options{PublicKey: pub})
	h := pairs{discordSig, discordSign(priv, ts, body), discordTimestamp, ts}
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
