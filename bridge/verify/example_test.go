package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/hookbus/hookbus/bridge/verify"
)

// A GitHub source: the request is checked against the secret over its raw body, and the
// event type is read from X-GitHub-Event and the payload's action.
func ExampleNew() {
	const secret = "It's a Secret to Everybody"
	v, err := verify.New("github", verify.Options{Secrets: []string{secret}})
	if err != nil {
		panic(err)
	}

	// What GitHub sends.
	body := []byte(`{"action":"opened","issue":{"number":1}}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	h := http.Header{}
	h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	h.Set("X-GitHub-Event", "issues")
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")

	res, err := v.Verify(&verify.Request{Method: "POST", Header: h.Get, Body: body})
	fmt.Println(res.Event, res.DeliveryID, err)

	// One byte more and the signature no longer holds.
	_, err = v.Verify(&verify.Request{Method: "POST", Header: h.Get, Body: append(body, ' ')})
	fmt.Println(errors.Is(err, verify.ErrInvalidSignature))
	// Output:
	// issues.opened 72d3162e-cc78-11e3-81ab-4c9367dc0958 <nil>
	// true
}

// A generic HMAC source with its own headers, and a configuration mistake reported by the
// option's config key.
func ExampleNew_hmac() {
	v, err := verify.New("hmac-sha256", verify.Options{
		Secrets:     []string{"new-secret", "old-secret"}, // rotation: both accepted
		Header:      "X-Signature",
		Prefix:      "sha256=",
		IDHeader:    "X-Delivery-Id",
		EventHeader: "X-Event",
	})
	if err != nil {
		panic(err)
	}
	body := []byte(`{"lead":"ada"}`)
	m := hmac.New(sha256.New, []byte("old-secret"))
	m.Write(body)
	h := http.Header{}
	h.Set("X-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	h.Set("X-Delivery-Id", "L-1")
	h.Set("X-Event", "lead.created")
	res, err := v.Verify(&verify.Request{Method: "POST", Header: h.Get, Body: body})
	fmt.Println(v.Scheme(), res.DeliveryID, res.Event, err)

	_, err = verify.New("hmac-sha256", verify.Options{Secrets: []string{"s"}, Header: "X-Signature", Encoding: "hexx"})
	var fe *verify.FieldError
	fmt.Println(errors.As(err, &fe), fe.Field, errors.Is(err, verify.ErrInvalidOption))
	fmt.Println(err)
	// Output:
	// hmac-sha256 L-1 lead.created <nil>
	// true encoding true
	// encoding: invalid value: "hexx" (want hex or base64)
}
