package sign_test

import (
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge/sign"
	"github.com/hookbus/hookbus/bridge/verify"
	"github.com/hookbus/hookbus/subjects"
)

// FuzzGitHubRoundTrip feeds arbitrary event types and payloads through the github signer:
// whatever it accepts, the verifier must accept too, and route to the subject the event
// names.
func FuzzGitHubRoundTrip(f *testing.F) {
	for _, s := range [][2]string{
		{"issues.opened", `{}`}, {"ping", `x`}, {"issues.opened", `{"action":"opened"}`},
		{"a.b.c", `{"x":[1,{"y":"}"}]}`}, {"a.\u00e9", ` { } `}, {".", `{}`}, {"issues.opened", `{"action":"a","action":"opened"}`},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	o := verify.Options{Secrets: []string{"fuzz"}}
	v, err := verify.New("github", o)
	if err != nil {
		f.Fatal(err)
	}
	s, err := sign.New("github", o)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, event string, data []byte) {
		body, err := s.Payload(event, data)
		if err != nil {
			return
		}
		r := &sign.Request{Body: body, Event: event, DeliveryID: "d", Now: time.Unix(0, 0)}
		if err := s.Sign(r); err != nil {
			return
		}
		res, err := v.Verify(&verify.Request{Method: "POST", Header: r.Header.Get, Body: r.Body})
		if err != nil {
			t.Fatalf("event %q data %q: verifier rejects the signed request: %v", event, data, err)
		}
		if got, want := subjects.Webhook("github", res.Event), subjects.Webhook("github", event); got != want {
			t.Fatalf("event %q data %q: routed to %s, want %s", event, data, got, want)
		}
	})
}
