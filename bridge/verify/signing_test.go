package verify

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the helpers the URL-signing and timestamped schemes share.

func TestSignedURLSplit(t *testing.T) {
	u, err := newSignedURL("twilio", "https://hooks.example.com/webhooks/tw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, url, uri, base, query string
	}{
		{"no query", "", "/webhooks/tw", "https://hooks.example.com/webhooks/tw", ""},
		{"query", "", "/webhooks/tw?a=1&b=%3A", "https://hooks.example.com/webhooks/tw", "?a=1&b=%3A"},
		{"empty query", "", "/webhooks/tw?", "https://hooks.example.com/webhooks/tw", "?"},
		{"proxied path", "", "/internal/tw?a=1", "https://hooks.example.com/webhooks/tw", "?a=1"},
		{"request URL", "https://other.example.com/x?y=2", "/webhooks/tw?a=1", "https://other.example.com/x", "?y=2"},
		{"request URL without query", "https://other.example.com/x", "/webhooks/tw?a=1", "https://other.example.com/x", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base, query := u.split(&Request{URL: tt.url, RequestURI: tt.uri})
			if base != tt.base || query != tt.query {
				t.Fatalf("split = %q, %q; want %q, %q", base, query, tt.base, tt.query)
			}
		})
	}
	for _, ok := range []string{"http://h", "https://h:8443/a/b/", "https://[2001:db8::1]/x", "https://h/a%20b"} {
		if _, err := newSignedURL("twilio", ok); err != nil {
			t.Errorf("newSignedURL(%q): %v", ok, err)
		}
	}
}

func TestToleranceOption(t *testing.T) {
	for _, tt := range []struct {
		in, def, want time.Duration
		ok            bool
	}{
		{0, DefaultTolerance, DefaultTolerance, true},
		{0, TwitchTolerance, TwitchTolerance, true},
		{time.Second, TwitchTolerance, time.Second, true},
		{-time.Second, DefaultTolerance, 0, false},
	} {
		got, err := toleranceOption(&Options{Tolerance: tt.in}, tt.def)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("toleranceOption(%v, %v) = %v, %v", tt.in, tt.def, got, err)
		}
	}
}

func TestSignBufPool(t *testing.T) {
	sb := getSignBuf()
	if len(sb.b) != 0 {
		t.Fatalf("fresh buffer holds %q", sb.b)
	}
	sb.b = append(sb.b, "leftover"...)
	putSignBuf(sb)
	if sb := getSignBuf(); len(sb.b) != 0 {
		t.Fatalf("reused buffer holds %q", sb.b)
	}
	big := &signBuf{b: make([]byte, 0, maxPooledSignBuf+1)}
	putSignBuf(big) // dropped, not pooled: nothing to observe but that it does not panic
}

// TestSignedSchemesConcurrent runs the schemes that use pooled buffers from many
// goroutines, each with its own body; with -race it checks that no buffer is shared.
func TestSignedSchemesConcurrent(t *testing.T) {
	const public = "https://h.example.com/x"
	hs := mustNew(t, "hubspot", Options{Secrets: []string{"a", "b"}, PublicURL: public})
	tw := mustNew(t, "twilio", Options{Secrets: []string{"a", "b"}, PublicURL: public})
	zm := mustNew(t, "zoom", Options{Secrets: []string{"a", "b"}})
	tc := mustNew(t, "twitch", Options{Secrets: []string{"a", "b"}})
	priv, pub := discordKey("concurrent")
	dc := mustNew(t, "discord", Options{PublicKey: pub})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			secret := []string{"a", "b"}[i%2]
			now := time.Now()
			sec, ms := strconv.FormatInt(now.Unix(), 10), strconv.FormatInt(now.UnixMilli(), 10)
			rfc := now.Format(time.RFC3339Nano)
			n := strconv.Itoa(i)
			body := []byte(`{"event":"e` + n + `","id":"` + n + `","type":2}` + strings.Repeat(" ", i*100))
			params := [][2]string{{"CallSid", "CA" + n}, {"Pad", strings.Repeat("p", i*50)}}
			form := twilioBody(params)
			reqs := []struct {
				v    Verifier
				r    *Request
				want string
			}{
				{hs, &Request{Method: "POST", RequestURI: "/x?i=" + n, Body: body, Header: headers(hubSpotSigV3, hubSpotV3(secret, "POST", public+"?i="+n, body, ms), hubSpotTimestamp, ms)}, "hubspot"},
				{tw, &Request{Method: "POST", RequestURI: "/x?i=" + n, Body: form, Header: headers(twilioSig, twilioSign(secret, public+"?i="+n, params))}, "CA" + n},
				{zm, post(body, zoomSig, zoomSign(secret, sec, body), zoomTimestamp, sec), "e" + n},
				{tc, post(body, twitchHeaders(secret, "id-"+n, rfc, twitchNotification, "s.t", body)...), "id-" + n},
				{dc, post(body, discordSig, discordSign(priv, sec, body), discordTimestamp, sec), n},
			}
			for range 50 {
				for _, q := range reqs {
					before := bytes.Clone(q.r.Body)
					res, err := q.v.Verify(q.r)
					if err != nil {
						t.Errorf("%s: %v", q.v.Scheme(), err)
						return
					}
					if res.Event != q.want && res.DeliveryID != q.want {
						t.Errorf("%s: result %+v, want %q", q.v.Scheme(), res, q.want)
						return
					}
					if !bytes.Equal(before, q.r.Body) {
						t.Errorf("%s modified the body", q.v.Scheme())
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
