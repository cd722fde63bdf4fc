package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/hookbus/hookbus/bridge/verify"
)

func ExampleNew() {
	v, err := verify.New("github", verify.Options{Secrets: []string{"It's a Secret to Everybody"}})
	if err != nil {
		panic(err)
	}
	body := []byte(`{"action":"opened","issue":{"number":1}}`)
	m := hmac.New(sha256.New, []byte("It's a Secret to Everybody"))
	m.Write(body)
	h := http.Header{}
	h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	h.Set("X-GitHub-Event", "issues")
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")

	res, err := v.Verify(&verify.Request{Method: "POST", Header: h.Get, Body: body})
	fmt.Println(res.Event, res.DeliveryID, err)

	_, err = v.Verify(&verify.Request{Method: "POST", Header: h.Get, Body: append(body, ' ')})
	fmt.Println(err)
	// Output:
	// issues.opened 72d3162e-cc78-11e3-81ab-4c9367dc0958 <nil>
	// invalid signature
}
