package sign_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge/sign"
	"github.com/hookbus/hookbus/bridge/verify"
)

// signAndVerify signs a request with the signer of scheme and options o and hands it to
// the verifier of the same configuration.
func signAndVerify(t *testing.T, scheme string, o verify.Options, event, id string, data []byte) (verify.Result, *sign.Request) {
	t.Helper()
	s, err := sign.New(scheme, o)
	if err != nil {
		t.Fatalf("sign.New(%q): %v", scheme, err)
	}
	body, err := s.Payload(event, data)
	if err != nil {
		t.Fatalf("Payload: %v", err)
	}
	now := time.Unix(1_767_225_600, 0)
	r := &sign.Request{Body: body, Event: event, DeliveryID: id, Now: now}
	if err := s.Sign(r); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	v, err := verify.New(scheme, o)
	if err != nil {
		t.Fatalf("verify.New(%q): %v", scheme, err)
	}
	res, err := v.Verify(&verify.Request{Method: "POST", Header: r.Header.Get, Body: r.Body, Now: now})
	if err != nil {
		t.Fatalf("the verifier rejects what the signer signed: %v\nheaders: %v", err, r.Header)
	}
	// One byte more must break it, unless nothing is signed.
	if scheme != "none" {
		if _, err := v.Verify(&verify.Request{Method: "POST", Header: r.Header.Get, Body: append(append([]byte(nil), r.Body...), ' '), Now: now}); !errors.Is(err, verify.ErrInvalidSignature) {
			t.Fatalf("altered body: %v, want ErrInvalidSignature", err)
		}
	}
	return res, r
}

func TestSignersVerify(t *testing.T) {
	data := []byte(`{"issue":{"number":42}}`)
	tests := []struct {
		name      string
		scheme    string
		o         verify.Options
		event, id string
		wantEvent string
		wantID    string
	}{
		{"github", "github", verify.Options{Secrets: []string{"s3cret"}}, "issues.opened", "d-1", "issues.opened", "d-1"},
		{"github no action", "github", verify.Options{Secrets: []string{"s3cret"}}, "ping", "d-2", "ping", "d-2"},
		{"github rotation signs with the first", "github", verify.Options{Secrets: []string{"new", "old"}, AllowSHA1: true}, "issues.closed", "", "issues.closed", ""},
		{"hmac-sha256 hex prefix", "hmac-sha256", verify.Options{Secrets: []string{"k"}, Header: "X-Signature", Prefix: "sha256=",
			IDHeader: "X-Id", EventHeader: "X-Event"}, "lead.created", "p-1", "lead.created", "p-1"},
		{"hmac-sha1 base64", "hmac-sha1", verify.Options{Secrets: []string{"k"}, Header: "X-Sig", Encoding: "base64"}, "", "", "webhook", ""},
		{"hmac-sha512 hex", "hmac-sha512", verify.Options{Secrets: []string{"k"}, Header: "X-Sig", Event: "fixed.type"}, "", "", "fixed.type", ""},
		{"hmac algorithm option", "hmac", verify.Options{Secrets: []string{"k"}, Header: "X-Sig", Algorithm: "sha512", Encoding: "base64", Prefix: "v1="}, "", "", "webhook", ""},
		{"hmac default algorithm", "hmac", verify.Options{Secrets: []string{"k"}, Header: "X-Sig", EventHeader: "X-Type"}, "a.b", "", "a.b", ""},
		{"hmac signed timestamp", "hmac-sha256", verify.Options{Secrets: []string{"k"}, Header: "X-Sig", TimestampHeader: "X-Ts",
			SignedContent: "{timestamp}.{body}"}, "", "", "webhook", ""},
		{"hmac signed id and timestamp", "hmac-sha256", verify.Options{Secrets: []string{"k"}, Header: "X-Sig", TimestampHeader: "X-Ts",
			IDHeader: "X-Id", SignedContent: "v0:{id}:{timestamp}:{body}", Tolerance: time.Minute}, "", "id-9", "webhook", "id-9"},
		{"none", "none", verify.Options{IDHeader: "X-Id", EventHeader: "X-Event"}, "x.y", "n-1", "x.y", "n-1"},
		{"none bare", "none", verify.Options{}, "ignored", "", "webhook", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := signAndVerify(t, tt.scheme, tt.o, tt.event, tt.id, data)
			if res.Event != tt.wantEvent || res.DeliveryID != tt.wantID {
				t.Fatalf("verified as event %q id %q, want %q %q", res.Event, res.DeliveryID, tt.wantEvent, tt.wantID)
			}
		})
	}
}

func TestSchemesCovered(t *testing.T) {
	got := strings.Join(sign.Schemes(), ",")
	if got != "github,hmac,hmac-sha1,hmac-sha256,hmac-sha512,none" {
		t.Fatalf("Schemes() = %s", got)
	}
	for _, s := range sign.Schemes() {
		found := false
		for _, v := range verify.Schemes() {
			found = found || v == s
		}
		if !found {
			t.Errorf("sign knows %q, verify does not", s)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := sign.New("stripe", verify.Options{Secrets: []string{"x"}}); !errors.Is(err, sign.ErrUnsupported) {
		t.Errorf("unsupported scheme: %v", err)
	}
	if _, err := sign.New("nope", verify.Options{}); !errors.Is(err, sign.ErrUnsupported) {
		t.Errorf("unknown scheme: %v", err)
	}
	for name, o := range map[string]verify.Options{
		"no secret":      {},
		"empty secret":   {Secrets: []string{""}},
		"unknown option": {Secrets: []string{"s"}, Header: "X"},
	} {
		if _, err := sign.New("github", o); !errors.Is(err, sign.ErrOptions) {
			t.Errorf("%s: %v, want ErrOptions", name, err)
		}
	}
	if _, err := sign.New("hmac-sha256", verify.Options{Secrets: []string{"s"}}); !errors.Is(err, verify.ErrInvalidOption) {
		t.Errorf("hmac without header: %v, want the verifier's ErrInvalidOption", err)
	}
}

func TestGitHubPayload(t *testing.T) {
	tests := []struct {
		event, data, want string
		fails             bool
	}{
		{"issues.opened", `{}`, `{"action":"opened"}`, false},
		{"issues.opened", ` {"a":1}`, ` {"action":"opened","a":1}`, false},
		{"issues.opened", `{"action":"opened","a":1}`, `{"action":"opened","a":1}`, false},
		{"ping", `not json`, `not json`, false},
		{"issues.opened", `{"action":"closed"}`, "", true},
		{"issues.opened", `[1]`, "", true},
		{"issues.opened", `{"a":1}{}`, "", true},
		{"issues.opened", `{"action":1}`, "", true},
		{"a.<b>", `{}`, `{"action":"\u003cb\u003e"}`, false},
	}
	for _, tt := range tests {
		got, err := sign.GitHubPayload(tt.event, []byte(tt.data))
		if tt.fails {
			if !errors.Is(err, sign.ErrEvent) {
				t.Errorf("GitHubPayload(%q, %s) = %s, %v; want ErrEvent", tt.event, tt.data, got, err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("GitHubPayload(%q, %s) = %s, %v; want %s", tt.event, tt.data, got, err, tt.want)
		}
	}
}

func TestSignRefusesUnsendableValues(t *testing.T) {
	if err := sign.GitHub("s", &sign.Request{Event: "is\nsues"}); !errors.Is(err, sign.ErrEvent) {
		t.Errorf("newline in event: %v", err)
	}
	if err := sign.GitHub("s", &sign.Request{}); !errors.Is(err, sign.ErrEvent) {
		t.Errorf("no event: %v", err)
	}
	if err := sign.HMAC(sign.HMACParams{Secret: "s", Header: "X", IDHeader: "X-Id"}, &sign.Request{DeliveryID: "a\rb"}); !errors.Is(err, sign.ErrEvent) {
		t.Errorf("CR in id: %v", err)
	}
	if err := sign.HMAC(sign.HMACParams{Secret: "s", Header: "X", Algorithm: "md5"}, &sign.Request{}); !errors.Is(err, sign.ErrOptions) {
		t.Errorf("md5: %v", err)
	}
	if err := sign.HMAC(sign.HMACParams{Secret: "s", Header: "X", SignedContent: "{id}.{body}"}, &sign.Request{}); !errors.Is(err, sign.ErrOptions) {
		t.Errorf("{id} without id: %v", err)
	}
}
