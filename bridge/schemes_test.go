package bridge_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

const schemesConfig = `
http: {listen: "127.0.0.1:0"}
admin: {listen: ""}
nats:
  embedded: {listen: "127.0.0.1:-1", store_dir: "${STORE}"}
sources:
  slack: {verify: slack, secrets: ["slack-signing-secret"]}
  stripe: {verify: stripe, secrets: ["whsec_test_stripe"]}
`

func hexMAC(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// TestProviderSchemesOverHTTP runs two timestamped schemes through the real ingress: Slack's
// url_verification is answered after verification and not stored; a Stripe event is stored
// under its type with its event id; a stale Stripe replay is refused.
func TestProviderSchemesOverHTTP(t *testing.T) {
	h := start(t, loadConfig(t, schemesConfig, map[string]string{"STORE": t.TempDir()}))
	now := strconv.FormatInt(time.Now().Unix(), 10)

	challenge := []byte(`{"token":"x","challenge":"c-123","type":"url_verification"}`)
	sig := "v0=" + hexMAC("slack-signing-secret", "v0:"+now+":"+string(challenge))
	req, _ := http.NewRequest("POST", "http://"+h.addrs.HTTP+"/webhooks/slack", bytes.NewReader(challenge))
	req.Header.Set("X-Slack-Request-Timestamp", now)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(answer) != "c-123" {
		t.Fatalf("slack challenge: %d %q", resp.StatusCode, answer)
	}
	forged := do(t, "POST", h.addrs.HTTP, "/webhooks/slack", challenge, map[string]string{"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + hexMAC("other", "v0:"+now+":"+string(challenge))})
	if forged.status != 401 {
		t.Fatalf("forged challenge: %d %q", forged.status, forged.body)
	}

	event := []byte(`{"id":"evt_123","type":"invoice.paid","data":{}}`)
	stripeSig := func(ts string) string {
		return fmt.Sprintf("t=%s,v1=%s", ts, hexMAC("whsec_test_stripe", ts+"."+string(event)))
	}
	if a := post(t, h.addrs.HTTP, "/webhooks/stripe", event, map[string]string{"Stripe-Signature": stripeSig(now)}); a.status != 200 || a.result.ID != "stripe:evt_123" {
		t.Fatalf("stripe: %d %s", a.status, a.body)
	}
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	if a := post(t, h.addrs.HTTP, "/webhooks/stripe", event, map[string]string{"Stripe-Signature": stripeSig(stale)}); a.status != 401 || a.result.Error != "stale timestamp" {
		t.Fatalf("stale replay: %d %s", a.status, a.body)
	}
	msgs := stored(t, h.js, "webhooks.>")
	if len(msgs) != 1 || msgs[0].Subject != "webhooks.stripe.invoice.paid" {
		t.Fatalf("stored %d: %v", len(msgs), msgs)
	}
}
