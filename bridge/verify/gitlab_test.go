package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGitLabVectors checks testdata/gitlab: a signed Issue Hook and the Standard Webhooks
// reference vector sent the GitLab way.
func TestGitLabVectors(t *testing.T) { testSignedVectors(t, "gitlab", "gitlab") }

func TestGitLab(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := []byte(`{"object_kind":"issue","event_type":"issue","project":{"id":7},"object_attributes":{"id":301,"iid":42,"action":"open"}}`)
	const token, oldToken = "gitlab-secret-token-current", "gitlab-secret-token-rotated-out"
	const signing = "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q="
	oldSigning := "whsec_" + base64.StdEncoding.EncodeToString([]byte("an older signing token, 32 byte"))
	const id, uuid = "4f1e0c1a-5555-4d3b-9e2f-000000000005", "13792a34-cac6-4fda-95a8-c58e00a3954e"
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	ts := at(0)
	sign := func(secret, ts string, body []byte) string { return swSign(t, secret, id, ts, body) }
	good := sign(signing, ts, body)
	flipped := bytes.Clone(body)
	flipped[bytes.Index(body, []byte(`7}`))] ^= 0x01 // project 7 becomes 6
	stale, future := at(-DefaultTolerance-time.Second), at(DefaultTolerance+time.Second)
	signed := func(sig, ts string) []string {
		return []string{"webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig}
	}
	tok := func(t string) []string { return []string{gitLabToken, t} }

	tokens := Options{Secrets: []string{token}}
	both := Options{Secrets: []string{token, signing}}
	signingOnly := Options{Secrets: []string{signing}}
	tests := []struct {
		name string
		o    Options
		body []byte
		kv   []string
		err  error
	}{
		// Secret token mode.
		{"token genuine", tokens, body, tok(token), nil},
		{"token wrong secret", tokens, body, tok("not-the-token"), ErrInvalidSignature},
		{"token missing header", tokens, body, nil, ErrMissingSignature},
		{"token rotated secret", Options{Secrets: []string{token, oldToken}}, body, tok(oldToken), nil},
		{"token prefix of the secret", tokens, body, tok(token[:10]), ErrInvalidSignature},
		{"token secret plus more", tokens, body, tok(token + "x"), ErrInvalidSignature},
		{"token case differs", tokens, body, tok(strings.ToUpper(token)), ErrInvalidSignature},
		{"token mode signs no body: flipped byte passes", tokens, flipped, tok(token), nil},
		{"token ignores webhook-signature without signing token", tokens, body, append(tok(token), signed("v1,junk", ts)...), nil},
		{"token is not a signing token", tokens, body, signed(sign(signing, ts, body), ts), ErrMissingSignature},
		{"token of a signing-token source", signingOnly, body, tok(signing), ErrMissingSignature},

		// Signing token mode (Standard Webhooks).
		{"signed genuine", signingOnly, body, signed(good, ts), nil},
		{"signed wrong secret", signingOnly, body, signed(sign(oldSigning, ts, body), ts), ErrInvalidSignature},
		{"signed one flipped body byte", signingOnly, flipped, signed(good, ts), ErrInvalidSignature},
		{"signed malformed header", signingOnly, body, signed("v1="+good[3:], ts), ErrInvalidSignature},
		{"signed stale timestamp", signingOnly, body, signed(sign(signing, stale, body), stale), ErrStaleTimestamp},
		{"signed future timestamp", signingOnly, body, signed(sign(signing, future, body), future), ErrStaleTimestamp},
		{"signed rotated secret", Options{Secrets: []string{signing, oldSigning}}, body, signed(sign(oldSigning, ts, body), ts), nil},
		{"signed timestamp unreadable", signingOnly, body, signed(good, "soon"), ErrMalformed},
		{"signed tolerance option", Options{Secrets: []string{signing}, Tolerance: 30 * time.Second}, body, signed(sign(signing, at(-time.Minute), body), at(-time.Minute)), ErrStaleTimestamp},

		// Both configured: the signature, when sent, decides.
		{"both, signed", both, body, signed(good, ts), nil},
		{"both, token", both, body, tok(token), nil},
		{"both, signature wrong, token right", both, body, append(tok(token), signed(sign(oldSigning, ts, body), ts)...), ErrInvalidSignature},
		{"both, signature right, token wrong", both, body, append(tok("nope"), signed(good, ts)...), nil},
		{"both, nothing", both, body, nil, ErrMissingSignature},
		{"svix spelling is not GitLab's", both, body, []string{"svix-id", id, "svix-timestamp", ts, "svix-signature", good}, ErrMissingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "gitlab", tt.o)
			kv := append([]string{gitLabEvent, "Issue Hook", gitLabUUID, uuid}, tt.kv...)
			r := post(tt.body, kv...)
			r.Now = now
			before := bytes.Clone(tt.body)
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, token, oldToken, signing, signing[len("whsec_"):], good[3:])
			if err == nil && (res.DeliveryID != uuid || res.Event != "issue_hook.open" || res.Reply != nil) {
				t.Fatalf("Verify = %+v", res)
			}
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
		})
	}
	if s := mustNew(t, "gitlab", both).Scheme(); s != "gitlab" {
		t.Fatalf("Scheme() = %q", s)
	}
	// A malformed signing token is refused at start-up, naming its position only.
	_, err := New("gitlab", Options{Secrets: []string{token, "whsec_not base64"}})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "secrets" || !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "secret 1 ") {
		t.Fatalf("bad signing token: %v", err)
	}
}

// TestGitLabResult covers the delivery id and the event.
func TestGitLabResult(t *testing.T) {
	const token = "gitlab-result-token"
	v := mustNew(t, "gitlab", Options{Secrets: []string{token}})
	for _, tt := range []struct {
		name, header, body string
		kv                 []string
		id, event          string
		err                error
	}{
		{"issue", "Issue Hook", `{"object_attributes":{"action":"close"}}`, []string{gitLabUUID, "u-1"}, "u-1", "issue_hook.close", nil},
		{"merge request", "Merge Request Hook", `{"object_kind":"merge_request","object_attributes":{"state":"merged","action":"merge"}}`, nil, "", "merge_request_hook.merge", nil},
		{"push has no action", "Push Hook", `{"object_kind":"push","ref":"refs/heads/main"}`, nil, "", "push_hook", nil},
		{"action only nested deeper", "Note Hook", `{"object_attributes":{"note":{"action":"x"}}}`, nil, "", "note_hook", nil},
		{"action not a string", "Issue Hook", `{"object_attributes":{"action":3}}`, nil, "", "issue_hook", nil},
		{"object_attributes not an object", "Issue Hook", `{"object_attributes":"open","action":"x"}`, nil, "", "issue_hook", nil},
		{"odd header bytes", "Tag Push Hook.v2/é", `{}`, nil, "", "tag_push_hook_v2___", nil},
		{"webhook-id without uuid", "Job Hook", `{}`, []string{"webhook-id", "w-1"}, "w-1", "job_hook", nil},
		{"uuid wins", "Job Hook", `{}`, []string{"webhook-id", "w-1", gitLabUUID, "u-2"}, "u-2", "job_hook", nil},
		{"not json", "System Hook", `event_name=push`, nil, "", "system_hook", nil},
		{"no event header", "", `{}`, nil, "", "", ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kv := append([]string{gitLabToken, token, gitLabEvent, tt.header}, tt.kv...)
			res, err := v.Verify(post([]byte(tt.body), kv...))
			checkErr(t, err, tt.err, token)
			if err == nil && (res.DeliveryID != tt.id || res.Event != tt.event) {
				t.Fatalf("Verify = %+v; want id %q event %q", res, tt.id, tt.event)
			}
		})
	}
}

// FuzzGitLab sends random tokens, signature lists, event headers and bodies to a source
// with a secret token and a signing token: Verify must never panic or modify the body,
// must let a token through only when it is the configured one, and must make every event
// token-safe.
func FuzzGitLab(f *testing.F) {
	const token, signing = "fuzz-token", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Add([]byte(`{"object_attributes":{"action":"open"}}`), token, "", "Issue Hook")
	f.Add([]byte(`{}`), "fuzz-tokeN", "v1,AAAA", "Merge Request Hook")
	f.Add([]byte{}, "", "v1,", "\x00 \xff.")
	v := mustNew(f, "gitlab", Options{Secrets: []string{signing, token}})
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	f.Fuzz(func(t *testing.T, body []byte, tok, sigs, event string) {
		before := bytes.Clone(body)
		kv := []string{gitLabToken, tok, gitLabEvent, event, "webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", sigs}
		res, err := v.Verify(&Request{Method: "POST", Header: headers(kv...), Body: body, Now: now})
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrStaleTimestamp) {
			t.Fatalf("error of no class: %v", err)
		}
		if sigs == "" && (err == nil || errors.Is(err, ErrMalformed)) && tok != token {
			t.Fatalf("token %q accepted", tok)
		}
		if sigs != "" && err == nil && !refStandardWebhooks(sigs, sum(sha256.New, string(mustKey(t, signing)), []byte("msg_1."+ts+"."), body)) {
			t.Fatalf("signature list %q accepted", sigs)
		}
		if err != nil {
			return
		}
		head, _, _ := strings.Cut(res.Event, ".")
		if len(head) != len(event) || strings.Trim(head, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("event %q of header %q is not token-safe", res.Event, event)
		}
		if !json.Valid(body) {
			return
		}
		var want string
		if obj, ok := refField(body, "object_attributes"); ok {
			if a, ok := refField(obj, "action"); ok {
				_ = json.Unmarshal(a, &want)
			}
		}
		if got := strings.TrimPrefix(res.Event, head); got != "" && got != "."+want || got == "" && want != "" {
			t.Fatalf("event %q, encoding/json reads action %q", res.Event, want)
		}
	})
}

// mustKey decodes the key of a "whsec_" secret.
func mustKey(t testing.TB, secret string) []byte {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// BenchmarkGitLab verifies a genuine 1 KiB delivery in both modes and a wrong token.
func BenchmarkGitLab(b *testing.B) {
	const head, tail = `{"object_kind":"issue","object_attributes":{"action":"open","description":"`, `"}}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	const token, signing = "gitlab-secret-token-longer-than-32-bytes", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	run := func(b *testing.B, h pairs, wantErr bool) {
		v := mustNew(b, "gitlab", Options{Secrets: []string{token, signing}})
		h = append(h, gitLabEvent, "Issue Hook", gitLabUUID, "13792a34-cac6-4fda-95a8-c58e00a3954e")
		r := &Request{Method: "POST", Header: h.get, Body: body, Now: now}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := v.Verify(r); (err != nil) != wantErr {
				b.Fatal(err)
			}
		}
	}
	b.Run("token", func(b *testing.B) { run(b, pairs{gitLabToken, token}, false) })
	b.Run("signed", func(b *testing.B) {
		run(b, pairs{"webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", swSign(b, signing, "msg_1", ts, body)}, false)
	})
	b.Run("wrong-token", func(b *testing.B) { run(b, pairs{gitLabToken, "gitlab-secret-token-guessed-wrong-length"}, true) })
}
