package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSlackVectors checks testdata/slack: the example of Slack's documentation.
func TestSlackVectors(t *testing.T) { testSignedVectors(t, "slack", "slack") }

// A Slack source answers Slack's url_verification handshake itself once the request's
// signature holds: the caller sends Result.Reply back and stores nothing.
func ExampleNew_slack() {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	v, err := New("slack", Options{Secrets: []string{secret}})
	if err != nil {
		panic(err)
	}

	// What Slack sends when the request URL is saved.
	body := []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("Content-Type", "application/json")

	res, err := v.Verify(&Request{Method: "POST", Header: h.Get, Body: body})
	fmt.Println(res.Event, err)
	fmt.Println(res.Reply.Status, res.Reply.ContentType, string(res.Reply.Body))
	// Output:
	// url_verification <nil>
	// 200 text/plain 3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P
}

func TestSlack(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := []byte(`{"token":"XXYYZZ","team_id":"T123","type":"event_callback","event":{"type":"app_mention","user":"U1","text":"hi","channel":"C1"},"event_id":"Ev08MFMKH6","event_time":1767225600}`)
	const secret, old = "8f742231b10e8888abcd99yyyzzz85a5", "0ld5ecret0ld5ecret0ld5ecret0ld5e"
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	v0 := func(secret, ts string, body []byte) string {
		return "v0=" + hexSum(sha256.New, secret, []byte("v0:"+ts+":"), body)
	}
	ts := at(0)
	good := v0(secret, ts, body)
	flipped := bytes.Clone(body)
	flipped[len(flipped)-5] ^= 0x01
	stale, future := at(-DefaultTolerance-time.Second), at(DefaultTolerance+time.Second)

	one := Options{Secrets: []string{secret}}
	rotating := Options{Secrets: []string{secret, old}}
	tests := []struct {
		name    string
		o       Options
		body    []byte
		sig, ts string
		err     error
	}{
		{"genuine", one, body, good, ts, nil},
		{"wrong secret", one, body, v0("not-the-secret", ts, body), ts, ErrInvalidSignature},
		{"one flipped body byte", one, flipped, good, ts, ErrInvalidSignature},
		{"missing header", one, body, "", ts, ErrMissingSignature},
		{"malformed header", one, body, "v0:" + good[3:], ts, ErrInvalidSignature},
		{"stale timestamp", one, body, v0(secret, stale, body), stale, ErrStaleTimestamp},
		{"future timestamp", one, body, v0(secret, future, body), future, ErrStaleTimestamp},
		{"rotated secret", rotating, body, v0(old, ts, body), ts, nil},

		{"uppercase hex", one, body, "v0=" + strings.ToUpper(good[3:]), ts, nil},
		{"no prefix", one, body, good[3:], ts, ErrInvalidSignature},
		{"other version", one, body, "v1=" + good[3:], ts, ErrInvalidSignature},
		{"short", one, body, good[:60], ts, ErrInvalidSignature},
		{"two signatures", one, body, good + "," + good, ts, ErrInvalidSignature},
		{"timestamp missing", one, body, good, "", ErrMalformed},
		{"timestamp not a number", one, body, v0(secret, "now", body), "now", ErrMalformed},
		{"timestamp swapped", one, body, good, at(-time.Second), ErrInvalidSignature},
		{"stale and forged", one, body, v0("x", stale, body), stale, ErrInvalidSignature},
		{"body alone signed", one, body, "v0=" + hexSum(sha256.New, secret, body), ts, ErrInvalidSignature},
		{"tolerance option", Options{Secrets: []string{secret}, Tolerance: 30 * time.Second}, body, v0(secret, at(-time.Minute), body), at(-time.Minute), ErrStaleTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "slack", tt.o)
			r := post(tt.body, slackSig, tt.sig, slackTimestamp, tt.ts, "Content-Type", "application/json")
			r.Now = now
			before := bytes.Clone(tt.body)
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, secret, old, good[3:])
			if err == nil && (res.DeliveryID != "Ev08MFMKH6" || res.Event != "app_mention" || res.Reply != nil) {
				t.Fatalf("Verify = %+v", res)
			}
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
		})
	}
	if s := mustNew(t, "slack", one).Scheme(); s != "slack" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestSlackResult covers the event rule, the delivery id and the handshakes.
func TestSlackResult(t *testing.T) {
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	const form, js = "application/x-www-form-urlencoded", "application/json"
	interactive := "payload=" + url.QueryEscape(`{"type":"block_actions","trigger_id":"1.2.3"}`)
	v := mustNew(t, "slack", Options{Secrets: []string{"k"}})
	for _, tt := range []struct {
		name, ct, body, id, event string
		reply                     string // expected Reply body; "-" for no Reply
	}{
		{"event callback", js, `{"type":"event_callback","event_id":"Ev1","event":{"type":"message","subtype":"channel_join"}}`, "Ev1", "message", "-"},
		{"event callback without inner type", js, `{"type":"event_callback","event_id":"Ev2","event":{}}`, "Ev2", "event_callback", "-"},
		{"event callback, inner type escaped", js, `{"event":{"type":"reaction_\u0061dded"},"type":"event_callback"}`, "", "reaction_added", "-"},
		{"app rate limited", js, `{"token":"t","type":"app_rate_limited","minute_rate_limited":1518467820}`, "", "app_rate_limited", "-"},
		{"url verification", js, `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`, "", "url_verification", "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
		{"url verification, escaped challenge", js, `{"type":"url_verification","challenge":"a\/b"}`, "", "url_verification", "a/b"},
		{"url verification without challenge", js, `{"type":"url_verification"}`, "", "url_verification", ""},
		{"json without type", js, `{"event_id":"Ev3"}`, "Ev3", "", "-"},
		{"slash command", form, "token=t&team_id=T1&command=%2Fdeploy&text=prod&trigger_id=1.2.3", "", "command", "-"},
		{"interactive", form, interactive, "", "interactive", "-"},
		{"interactive with charset", form + "; charset=utf-8", interactive, "", "interactive", "-"},
		{"ssl check", form, "ssl_check=1&token=t", "", "", ""},
		{"other form", form, "a=1&b=2", "", "", "-"},
		{"form field named like a value", form, "text=command&x=payload", "", "", "-"},
		{"json sent as form", form, `{"type":"event_callback"}`, "", "", "-"},
		{"not json", js, `type=event_callback`, "", "", "-"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			r := post(body, slackSig, "v0="+hexSum(sha256.New, "k", []byte("v0:"+ts+":"), body), slackTimestamp, ts, "Content-Type", tt.ct)
			r.Now = now
			res, err := v.Verify(r)
			if err != nil || res.DeliveryID != tt.id || res.Event != tt.event {
				t.Fatalf("Verify = %+v, %v; want id %q event %q", res, err, tt.id, tt.event)
			}
			switch {
			case tt.reply == "-" && res.Reply != nil:
				t.Fatalf("Reply = %+v, want none", res.Reply)
			case tt.reply != "-" && res.Reply == nil:
				t.Fatal("no Reply")
			case tt.reply != "-" && (res.Reply.Status != 200 || string(res.Reply.Body) != tt.reply):
				t.Fatalf("Reply = %d %q, want 200 %q", res.Reply.Status, res.Reply.Body, tt.reply)
			}
			if tt.reply != "-" && len(res.Reply.Body) > 0 {
				if res.Reply.ContentType != "text/plain" {
					t.Fatalf("Reply content type %q", res.Reply.ContentType)
				}
				if i := bytes.Index(body, res.Reply.Body); i >= 0 && &body[i] == &res.Reply.Body[0] {
					t.Fatal("Reply.Body points into the request body")
				}
			}
		})
	}
	// A forged url_verification is refused like any other request: no handshake without
	// the signature.
	body := []byte(`{"type":"url_verification","challenge":"c"}`)
	r := post(body, slackSig, "v0="+hexSum(sha256.New, "x", []byte("v0:"+ts+":"), body), slackTimestamp, ts)
	r.Now = now
	if res, err := v.Verify(r); !errors.Is(err, ErrInvalidSignature) || res.Reply != nil {
		t.Fatalf("forged handshake: %+v, %v", res, err)
	}
}

// FuzzSlack sends random signatures, timestamps, content types and bodies: Verify must
// never panic or modify the body, must let through only the HMAC of "v0:<timestamp>:<body>",
// and must accept the genuine signature with the event encoding/json reads.
func FuzzSlack(f *testing.F) {
	const secret = "fuzz-secret"
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	cb := []byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"message"}}`)
	f.Add(cb, "v0="+hexSum(sha256.New, secret, []byte("v0:"+ts+":"), cb), ts, "application/json")
	f.Add([]byte(`{"type":"url_verification","challenge":"\u0063"}`), "v0=", ts, "")
	f.Add([]byte("command=%2Fx&payload"), "v0="+strings.Repeat("A", 64), "-1", "application/x-www-form-urlencoded")
	f.Add([]byte{}, "", "", "")
	v := mustNew(f, "slack", Options{Secrets: []string{"other-secret", secret}})
	f.Fuzz(func(t *testing.T, body []byte, sig, stamp, contentType string) {
		before := bytes.Clone(body)
		kv := []string{slackSig, sig, slackTimestamp, stamp, "Content-Type", contentType}
		r := &Request{Method: "POST", Header: headers(kv...), Body: body, Now: now}
		_, err := v.Verify(r)
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrStaleTimestamp) {
			t.Fatalf("error of no class: %v", err)
		}
		if err == nil || errors.Is(err, ErrStaleTimestamp) {
			d, ok := strings.CutPrefix(sig, "v0=")
			b, derr := hex.DecodeString(d)
			if !ok || derr != nil || !hmac.Equal(b, sum(sha256.New, secret, []byte("v0:"+stamp+":"), body)) {
				t.Fatalf("%q passed the signature check without the HMAC of %q and the body", sig, stamp)
			}
		}

		// The same request, genuinely signed now.
		kv[1], kv[3] = "v0="+hexSum(sha256.New, secret, []byte("v0:"+ts+":"), body), ts
		res, err := v.Verify(&Request{Method: "POST", Header: headers(kv...), Body: body, Now: now})
		if err != nil {
			t.Fatalf("genuine signature refused: %v", err)
		}
		if isForm(contentType) || !json.Valid(body) {
			return
		}
		text := func(raw []byte) string {
			var s string
			_ = json.Unmarshal(raw, &s)
			return s
		}
		typ, _ := refField(body, "type")
		want := text(typ)
		if want == "event_callback" {
			if ev, ok := refField(body, "event"); ok && json.Valid(ev) {
				if inner, ok := refField(ev, "type"); ok && text(inner) != "" {
					want = text(inner)
				}
			}
		}
		if res.Event != want {
			t.Fatalf("event = %q, encoding/json reads %q", res.Event, want)
		}
		if want == "url_verification" {
			challenge, _ := refField(body, "challenge")
			if res.Reply == nil || string(res.Reply.Body) != text(challenge) {
				t.Fatalf("reply %+v, challenge %q", res.Reply, text(challenge))
			}
		}
	})
}

// BenchmarkSlack verifies a genuine 1 KiB event callback, the common case, and a forged one.
func BenchmarkSlack(b *testing.B) {
	const head, tail = `{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"`, `"}}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	run := func(b *testing.B, secret string, wantErr bool) {
		v := mustNew(b, "slack", Options{Secrets: []string{"s"}})
		h := pairs{slackSig, "v0=" + hexSum(sha256.New, secret, []byte("v0:"+ts+":"), body), slackTimestamp, ts, "Content-Type", "application/json"}
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
