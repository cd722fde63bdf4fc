package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/hookbus/hookbus/bridge/verify"
)

// A Twitch EventSub source: the subscription's challenge is answered only once the
// message's signature holds, and nothing is stored for it.
func ExampleNew_twitch() {
	const secret = "s3cre77890ab"
	v, err := verify.New("twitch", verify.Options{Secrets: []string{secret}})
	if err != nil {
		panic(err)
	}

	// What Twitch sends after a subscription is created.
	body := []byte(`{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}`)
	id, ts := "e76c6bd4-55c9-4987-8304-da1588d8988b", time.Now().UTC().Format(time.RFC3339Nano)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id + ts))
	m.Write(body)
	h := http.Header{}
	h.Set("Twitch-Eventsub-Message-Id", id)
	h.Set("Twitch-Eventsub-Message-Timestamp", ts)
	h.Set("Twitch-Eventsub-Message-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	h.Set("Twitch-Eventsub-Message-Type", "webhook_callback_verification")
	h.Set("Twitch-Eventsub-Subscription-Type", "channel.follow")

	res, err := v.Verify(&verify.Request{Method: "POST", Header: h.Get, Body: body})
	fmt.Println(err, res.Reply.Status, res.Reply.ContentType, string(res.Reply.Body))

	// A forged challenge gets no answer.
	h.Set("Twitch-Eventsub-Message-Signature", "sha256="+hex.EncodeToString(make([]byte, 32)))
	res, err = v.Verify(&verify.Request{Method: "POST", Header: h.Get, Body: body})
	fmt.Println(res.Reply == nil, err)
	// Output:
	// <nil> 200 text/plain pogchamp-kappa-360noscope-vohiyo
	// true invalid signature: no configured secret produces the signature
}
