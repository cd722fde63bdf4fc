package relay_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents/relay"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks reference vector: the signing test of the spec's reference
// libraries (also in Svix's documentation).
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t testing.TB, s string) relay.Secret {
	t.Helper()
	sec, err := relay.ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	return sec
}

// newSecret returns a whsec_ secret made of n bytes derived from seed.
func newSecret(seed string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed[i%len(seed)] + byte(i)
	}
	return relay.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

func TestSignSpecVector(t *testing.T) {
	got := relay.Sign([]relay.Secret{mustSecret(t, vectorSecret)}, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	if got != vectorSig {
		t.Fatalf("Sign = %q, want the spec's %q", got, vectorSig)
	}
}

// TestSignVerifiesWithOfficialLibrary: the Standard Webhooks Go library accepts what Sign
// makes, under each of two rotating secrets, and refuses it under another secret or with one
// byte of the body changed.
func TestSignVerifiesWithOfficialLibrary(t *testing.T) {
	oldS, newS, otherS := newSecret("old", 32), newSecret("new", 24), newSecret("other", 64)
	secrets := []relay.Secret{mustSecret(t, newS), mustSecret(t, oldS)}
	for i, body := range []string{`{"a":1}`, "", "binary\x00\xff", strings.Repeat("x", 70000)} {
		id := fmt.Sprintf("github:delivery-%d", i)
		now := time.Now()
		h := http.Header{}
		h.Set(relay.HeaderWebhookID, id)
		h.Set(relay.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(relay.HeaderWebhookSignature, relay.Sign(secrets, id, now, []byte(body)))
		if n := len(strings.Split(h.Get(relay.HeaderWebhookSignature), " ")); n != 2 {
			t.Fatalf("%d signatures, want one per secret", n)
		}
		for _, s := range []string{oldS, newS} {
			wh, err := standardwebhooks.NewWebhook(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify([]byte(body), h); err != nil {
				t.Errorf("body %d: official library refuses our signature: %v", i, err)
			}
			if err := wh.Verify(append([]byte(body), ' '), h); err == nil {
				t.Errorf("body %d: official library accepts an altered body", i)
			}
		}
		wh, _ := standardwebhooks.NewWebhook(otherS)
		if err := wh.Verify([]byte(body), h); err == nil {
			t.Errorf("body %d: accepted under a secret we did not sign with", i)
		}
	}
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"no prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"empty", ""},
		{"not base64", "whsec_not*base64!"},
		{"too short", newSecret("s", 16)},
		{"too long", newSecret("l", 65)},
		{"asymmetric", "whpk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := relay.ParseSecret(tc.in)
			if !errors.Is(err, relay.ErrSecret) {
				t.Fatalf("err = %v, want ErrSecret", err)
			}
			if tc.in != "" && strings.Contains(err.Error(), strings.TrimPrefix(tc.in, "whsec_")) {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
	s := mustSecret(t, vectorSecret)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, struct{ S relay.Secret }{s}); strings.Contains(out, "MfKQ") {
			t.Errorf("%s prints the key: %s", f, out)
		}
	}
}

func ExampleSign() {
	secret, _ := relay.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	fmt.Println(relay.Sign([]relay.Secret{secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`)))
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}
