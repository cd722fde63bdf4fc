package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// twitchSign is the Twitch-Eventsub-Message-Signature of a message, as Twitch's
// documentation describes it.
func twitchSign(secret, id, ts string, body []byte) string {
	return "sha256=" + hexSum(sha256.New, secret, []byte(id+ts), body)
}

// twitchHeaders are the headers of a message.
func twitchHeaders(secret, id, ts, typ, sub string, body []byte) []string {
	return []string{twitchSig, twitchSign(secret, id, ts, body), twitchID, id, twitchTimestamp, ts, twitchType, typ, twitchSubType, sub}
}

// TestTwitchVectors verifies the derived vectors of testdata/twitch.
func TestTwitchVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/twitch/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vec struct {
		Secret string
		Cases  []struct {
			Name, Type, ID, Timestamp, Body, Signature, Event, Reply string
			SubscriptionType                                         string `json:"subscription_type"`
		}
	}
	if err := json.Unmarshal(raw, &vec); err != nil {
		t.Fatal(err)
	}
	if len(vec.Cases) != 2 {
		t.Fatalf("%d cases, want 2", len(vec.Cases))
	}
	v := mustNew(t, "twitch", Options{Secrets: []string{vec.Secret}})
	for _, c := range vec.Cases {
		t.Run(c.Name, func(t *testing.T) {
			ts, err := time.Parse(time.RFC3339Nano, c.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			r := post([]byte(c.Body), twitchSig, c.Signature, twitchID, c.ID, twitchTimestamp, c.Timestamp,
				twitchType, c.Type, twitchSubType, c.SubscriptionType)
			r.Now = ts.Add(time.Minute)
			res, err := v.Verify(r)
			if err != nil {
				t.Fatalf("vector refused: %v", err)
			}
			if res.DeliveryID != c.ID {
				t.Fatalf("delivery id %q, want %q", res.DeliveryID, c.ID)
			}
			if c.Reply == "" {
				if res.Reply != nil || res.Event != c.Event {
					t.Fatalf("result %+v, want event %q", res, c.Event)
				}
				return
			}
			if res.Reply == nil || res.Reply.Status != 200 || res.Reply.ContentType != "text/plain" || string(res.Reply.Body) != c.Reply {
				t.Fatalf("reply %+v, want %q", res.Reply, c.Reply)
			}
		})
	}
}

func TestTwitch(t *testing.T) {
	const k1, k2 = "twitch-secret-new", "twitch-secret-old"
	now := time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	ts := at(-1500 * time.Millisecond)
	const id, sub = "befa7b53-d79d-478f-86b9-120f112b044e", "channel.follow"
	body := []byte(`{"subscription":{"type":"channel.follow","version":"2"},"event":{"user_login":"cool_user"}}`)
	challenge := []byte(`{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}`)
	revocation := []byte(`{"subscription":{"type":"channel.follow","status":"authorization_revoked"}}`)
	noChallenge := []byte(`{"subscription":{}}`)
	good := twitchSign(k1, id, ts, body)
	flipped := bytes.Clone(body)
	flipped[5] ^= 1
	base := Options{Secrets: []string{k1, k2}}
	tight := Options{Secrets: []string{k1}, Tolerance: time.Minute}
	note := func(secret, ts string, body []byte) []string {
		return twitchHeaders(secret, id, ts, twitchNotification, sub, body)
	}
	with := func(kv []string, name, value string) []string {
		kv = append([]string(nil), kv...)
		for i := 0; i < len(kv); i += 2 {
			if kv[i] == name {
				kv[i+1] = value
			}
		}
		return kv
	}
	tests := []struct {
		name  string
		o     Options
		body  []byte
		kv    []string
		err   error
		event string
		reply string
	}{
		{"genuine", base, body, note(k1, ts, body), nil, sub, ""},
		{"rotated secret", base, body, note(k2, ts, body), nil, sub, ""},
		{"uppercase hex", base, body, with(note(k1, ts, body), twitchSig, "sha256="+strings.ToUpper(good[7:])), nil, sub, ""},
		{"wrong secret", base, body, note("other", ts, body), ErrInvalidSignature, "", ""},
		{"flipped body byte", base, flipped, note(k1, ts, body), ErrInvalidSignature, "", ""},
		{"id swapped", base, body, with(note(k1, ts, body), twitchID, "other-id"), ErrInvalidSignature, "", ""},
		{"timestamp swapped", base, body, with(note(k1, ts, body), twitchTimestamp, at(-time.Second)), ErrInvalidSignature, "", ""},
		{"missing header", base, body, with(note(k1, ts, body), twitchSig, ""), ErrMissingSignature, "", ""},
		{"missing id", base, body, with(note(k1, ts, body), twitchID, ""), ErrMissingSignature, "", ""},
		{"missing timestamp", base, body, with(note(k1, ts, body), twitchTimestamp, ""), ErrMissingSignature, "", ""},
		{"malformed header", base, body, with(note(k1, ts, body), twitchSig, "sha256="+strings.Repeat("g", 64)), ErrInvalidSignature, "", ""},
		{"no prefix", base, body, with(note(k1, ts, body), twitchSig, good[7:]), ErrInvalidSignature, "", ""},
		{"sha1 prefix", base, body, with(note(k1, ts, body), twitchSig, "sha1="+good[7:]), ErrInvalidSignature, "", ""},
		{"short", base, body, with(note(k1, ts, body), twitchSig, good[:60]), ErrInvalidSignature, "", ""},
		{"timestamp not RFC 3339", base, body, note(k1, "1777658400", body), ErrMalformed, "", ""},
		{"timestamp with offset", base, body, note(k1, now.Add(-time.Second).In(time.FixedZone("x", 3600)).Format(time.RFC3339Nano), body), nil, sub, ""},
		{"within tolerance", base, body, note(k1, at(-9*time.Minute), body), nil, sub, ""},
		{"stale", base, body, note(k1, at(-10*time.Minute-time.Second), body), ErrStaleTimestamp, "", ""},
		{"future", base, body, note(k1, at(10*time.Minute+time.Second), body), ErrStaleTimestamp, "", ""},
		{"stale and forged", base, body, note("x", at(-time.Hour), body), ErrInvalidSignature, "", ""},
		{"tolerance option", tight, body, note(k1, at(-2*time.Minute), body), ErrStaleTimestamp, "", ""},
		{"missing type", base, body, with(note(k1, ts, body), twitchType, ""), ErrMalformed, "", ""},
		{"missing subscription type", base, body, with(note(k1, ts, body), twitchSubType, ""), ErrMalformed, "", ""},
		{"revocation", base, revocation, twitchHeaders(k1, id, ts, "revocation", sub, revocation), nil, "revocation.channel.follow", ""},
		{"unknown type", base, body, twitchHeaders(k1, id, ts, "batch", sub, body), nil, "batch.channel.follow", ""},
		{"challenge genuine", base, challenge, twitchHeaders(k1, id, ts, twitchChallenge, sub, challenge), nil, twitchChallenge, "pogchamp-kappa-360noscope-vohiyo"},
		{"challenge rotated secret", base, challenge, twitchHeaders(k2, id, ts, twitchChallenge, sub, challenge), nil, twitchChallenge, "pogchamp-kappa-360noscope-vohiyo"},
		{"challenge without subscription type", base, challenge, twitchHeaders(k1, id, ts, twitchChallenge, "", challenge), nil, twitchChallenge, "pogchamp-kappa-360noscope-vohiyo"},
		{"challenge forged", base, challenge, twitchHeaders("attacker", id, ts, twitchChallenge, sub, challenge), ErrInvalidSignature, "", ""},
		{"challenge unsigned", base, challenge, with(twitchHeaders(k1, id, ts, twitchChallenge, sub, challenge), twitchSig, ""), ErrMissingSignature, "", ""},
		{"challenge stale", base, challenge, twitchHeaders(k1, id, at(-time.Hour), twitchChallenge, sub, challenge), ErrStaleTimestamp, "", ""},
		{"challenge missing", base, noChallenge, twitchHeaders(k1, id, ts, twitchChallenge, sub, noChallenge), ErrMalformed, "", ""},
		{"notification with a challenge", base, challenge, twitchHeaders(k1, id, ts, twitchNotification, sub, challenge), nil, sub, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "twitch", tt.o)
			before := bytes.Clone(tt.body)
			r := post(tt.body, tt.kv...)
			r.Now = now
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, k1, k2, good[7:])
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
			if err != nil {
				if res.Reply != nil {
					t.Fatal("a refused request was answered")
				}
				return
			}
			if res.Event != tt.event || res.DeliveryID != id {
				t.Fatalf("result %+v, want event %q id %q", res, tt.event, id)
			}
			if tt.reply == "" {
				if res.Reply != nil {
					t.Fatalf("reply %q to an event", res.Reply.Body)
				}
				return
			}
			if res.Reply == nil || res.Reply.Status != 200 || res.Reply.ContentType != "text/plain" || string(res.Reply.Body) != tt.reply {
				t.Fatalf("reply %+v, want %q", res.Reply, tt.reply)
			}
		})
	}
	if s := mustNew(t, "twitch", base).Scheme(); s != "twitch" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestTwitchNew covers the configuration errors of the scheme.
func TestTwitchNew(t *testing.T) {
	const secret = "twitch-secret-never-shown"
	for _, tt := range []struct {
		name  string
		o     Options
		field string
		err   error
	}{
		{"no secret", Options{}, "secrets", ErrNoSecret},
		{"empty secret", Options{Secrets: []string{""}}, "secrets", ErrNoSecret},
		{"negative tolerance", Options{Secrets: []string{secret}, Tolerance: -1}, "tolerance", ErrInvalidOption},
		{"unused header", Options{Secrets: []string{secret}, Header: "Twitch-Eventsub-Message-Signature"}, "header", ErrInvalidOption},
		{"unused event_header", Options{Secrets: []string{secret}, EventHeader: "X-Event"}, "event_header", ErrInvalidOption},
	} {
		t.Run(tt.name, func(t *testing.T) { checkFieldErr(t, "twitch", tt.o, tt.field, tt.err, secret) })
	}
}

// FuzzTwitch sends random signature, id and timestamp headers and bodies: Verify must
// never panic or modify the body, must accept only the signature of id, timestamp and
// body, and must answer a challenge only for a genuine message.
func FuzzTwitch(f *testing.F) {
	const secret = "fuzz-secret"
	now := time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)
	ts := now.Format(time.RFC3339Nano)
	challenge := []byte(`{"challenge":"c"}`)
	f.Add(challenge, twitchSign(secret, "id", ts, challenge), "id", ts, twitchChallenge)
	f.Add([]byte(`{}`), "sha256=", "", "2026-05-01T18:00:00Z", twitchNotification)
	f.Add([]byte{}, "sha256="+strings.Repeat("0", 64), "x", "2026-13-01T00:00:00Z", "revocation")
	f.Add([]byte(`{"challenge":1}`), "sha256=zz", "x", "0001-01-01T00:00:00Z", "")
	v := mustNew(f, "twitch", Options{Secrets: []string{"other", secret}})
	f.Fuzz(func(t *testing.T, body []byte, sig, id, stamp, typ string) {
		before := bytes.Clone(body)
		r := post(body, twitchSig, sig, twitchID, id, twitchTimestamp, stamp, twitchType, typ, twitchSubType, "channel.follow")
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
			d, ok := strings.CutPrefix(sig, "sha256=")
			got, derr := hex.DecodeString(d)
			if !ok || derr != nil || !hmac.Equal(got, sum(sha256.New, secret, []byte(id+stamp), body)) {
				t.Fatalf("accepted %q, which is not the message's signature", sig)
			}
		}

		// The same message, genuinely signed.
		if id == "" || stamp == "" || strings.ContainsAny(id+stamp+typ, "\r\n\x00") {
			return
		}
		r.Header = headers(twitchSig, twitchSign(secret, id, stamp, body), twitchID, id, twitchTimestamp, stamp,
			twitchType, typ, twitchSubType, "channel.follow")
		res, err = v.Verify(r)
		parsed, perr := time.Parse(time.RFC3339Nano, stamp)
		fresh := perr == nil && checkTimestamp(now, parsed, TwitchTolerance) == nil
		switch {
		case !fresh:
			if err == nil {
				t.Fatalf("timestamp %q accepted", stamp)
			}
		case typ == "":
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("no type: err = %v", err)
			}
		case typ == twitchChallenge:
			if err == nil && json.Valid(body) {
				raw, _ := refField(body, "challenge")
				var in string
				if json.Unmarshal(raw, &in) != nil || in != string(res.Reply.Body) {
					t.Fatalf("reply %q is not the challenge", res.Reply.Body)
				}
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("genuine challenge refused: %v", err)
			}
		default:
			if err != nil || res.DeliveryID != id || res.Reply != nil {
				t.Fatalf("genuine message: %+v, %v", res, err)
			}
		}
	})
}

// BenchmarkTwitch verifies a genuine 1 KiB notification.
func BenchmarkTwitch(b *testing.B) {
	const head, tail = `{"subscription":{"type":"channel.follow"},"event":{"user_login":"`, `"}}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	ts := time.Now().Format(time.RFC3339Nano)
	v := mustNew(b, "twitch", Options{Secrets: []string{"s"}})
	h := pairs(twitchHeaders("s", "befa7b53-d79d-478f-86b9-120f112b044e", ts, twitchNotification, "channel.follow", body))
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
