package sign_test

import (
	"fmt"
	"time"

	"github.com/hookbus/hookbus/bridge/sign"
	"github.com/hookbus/hookbus/bridge/verify"
)

// A sample GitHub delivery for a source configured with verify: github, checked by the
// verifier of the same configuration.
func ExampleNew() {
	o := verify.Options{Secrets: []string{"It's a Secret to Everybody"}}
	s, err := sign.New("github", o)
	if err != nil {
		panic(err)
	}
	body, _ := s.Payload("issues.opened", []byte(`{"issue":{"number":1}}`))
	r := &sign.Request{Body: body, Event: "issues.opened", DeliveryID: "d-1", Now: time.Unix(0, 0)}
	if err := s.Sign(r); err != nil {
		panic(err)
	}
	fmt.Println(string(body))
	fmt.Println(r.Header.Get("X-GitHub-Event"), r.Header.Get("X-Hub-Signature-256")[:7])

	v, _ := verify.New("github", o)
	res, err := v.Verify(&verify.Request{Method: "POST", Header: r.Header.Get, Body: r.Body})
	fmt.Println(res.Event, res.DeliveryID, err)
	// Output:
	// {"action":"opened","issue":{"number":1}}
	// issues sha256=
	// issues.opened d-1 <nil>
}
