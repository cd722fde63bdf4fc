package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// signedVector is one request of a testdata/<scheme>/vectors.json file: what the sender
// sent, the secrets configured, the clock to verify it at, and what Verify must return.
// The files of stripe, slack, shopify, standard-webhooks, gitlab, linear and paddle share
// this shape; their READMEs name where each vector comes from.
type signedVector struct {
	Name       string            `json:"name"`
	Secrets    []string          `json:"secrets"`
	Now        int64             `json:"now"` // Unix seconds
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
	DeliveryID string            `json:"delivery_id"`
	Event      string            `json:"event"`
}

// testSignedVectors verifies every vector of testdata/<dir>/vectors.json with the scheme:
// each must pass with its own secrets, return the recorded delivery id and event, and fail
// with ErrInvalidSignature once one body byte is flipped.
func testSignedVectors(t *testing.T, scheme, dir string) {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + dir + "/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []signedVector
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatalf("%s/vectors.json: %v", dir, err)
	}
	if len(vectors) == 0 {
		t.Fatalf("%s/vectors.json holds no vector", dir)
	}
	for _, vec := range vectors {
		t.Run(vec.Name, func(t *testing.T) {
			v := mustNew(t, scheme, Options{Secrets: vec.Secrets})
			h := http.Header{}
			for k, val := range vec.Headers {
				h.Set(k, val)
			}
			body := []byte(vec.Body)
			r := &Request{Method: "POST", Header: h.Get, Body: body, Now: time.Unix(vec.Now, 0)}
			res, err := v.Verify(r)
			if err != nil {
				t.Fatalf("published vector refused: %v", err)
			}
			if res.DeliveryID != vec.DeliveryID || res.Event != vec.Event {
				t.Fatalf("Verify = id %q event %q, want %q %q", res.DeliveryID, res.Event, vec.DeliveryID, vec.Event)
			}
			tampered := bytes.Clone(body)
			tampered[len(tampered)/2] ^= 0x01
			r.Body = tampered
			if _, err := v.Verify(r); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("flipped byte: err = %v, want %v", err, ErrInvalidSignature)
			}
		})
	}
}

// TestStripeVectors checks testdata/stripe (see its README).
func TestStripeVectors(t *testing.T) { testSignedVectors(t, "stripe", "stripe") }

func TestStripe(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"evt_1QxyzStripeTest","object":"event","type":"invoice.paid","data":{"object":{"id":"in_1"}}}`)
	const secret, old = "whsec_stripeCurrentSecret0123456789", "whsec_stripeRolledOutSecret98765432"
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	v1 := func(secret, t string, body []byte) string {
		return hexSum(sha256.New, secret, []byte(t+"."), body)
	}
	ts := at(0)
	good := v1(secret, ts, body)
	header := func(t string, sigs ...string) string {
		h := "t=" + t
		for _, s := range sigs {
			h += "," + s
		}
		return h
	}
	flipped := bytes.Clone(body)
	flipped[20] ^= 0x01
	stale, future := at(-DefaultTolerance-time.Second), at(DefaultTolerance+time.Second)

	one := Options{Secrets: []string{secret}}
	rotating := Options{Secrets: []string{secret, old}}
	tests := []struct {
		name   string
		o      Options
		body   []byte
		header string
		err    error
	}{
		{"genuine", one, body, header(ts, "v1="+good), nil},
		{"wrong secret", one, body, header(ts, "v1="+v1("whsec_notTheSecret", ts, body)), ErrInvalidSignature},
		{"one flipped body byte", one, flipped, header(ts, "v1="+good), ErrInvalidSignature},
		{"missing header", one, body, "", ErrMissingSignature},
		{"malformed header", one, body, "v1," + good + ",t=" + ts, ErrInvalidSignature},
		{"stale timestamp", one, body, header(stale, "v1="+v1(secret, stale, body)), ErrStaleTimestamp},
		{"future timestamp", one, body, header(future, "v1="+v1(secret, future, body)), ErrStaleTimestamp},
		{"rotated secret", rotating, body, header(ts, "v1="+v1(old, ts, body)), nil},
		{"rotated secret, new one used", rotating, body, header(ts, "v1="+good), nil},

		{"edge of tolerance", one, body, header(at(-DefaultTolerance), "v1="+v1(secret, at(-DefaultTolerance), body)), nil},
		{"tolerance option", Options{Secrets: []string{secret}, Tolerance: time.Minute}, body, header(at(-2*time.Minute), "v1="+v1(secret, at(-2*time.Minute), body)), ErrStaleTimestamp},
		{"stale and forged", one, body, header(stale, "v1="+v1("x", stale, body)), ErrInvalidSignature},
		{"timestamp swapped", one, body, header(at(-time.Second), "v1="+good), ErrInvalidSignature},
		{"several v1, last matches", one, body, header(ts, "v1="+v1("x", ts, body), "v1="+good), nil},
		{"unreadable v1 ignored", one, body, header(ts, "v1=bad_signature", "v1="+good), nil},
		{"v0 ignored", one, body, header(ts, "v1="+good, "v0="+v1("test-mode", ts, body)), nil},
		{"v0 only", one, body, header(ts, "v0="+good), ErrInvalidSignature},
		{"uppercase hex", one, body, header(ts, "v1="+strings.ToUpper(good)), nil},
		{"spaces around elements", one, body, "t=" + ts + " , v1=" + good + " ", nil},
		{"elements in any order", one, body, "v1=" + good + ",t=" + ts, nil},
		{"no v1", one, body, header(ts), ErrInvalidSignature},
		{"no t", one, body, "v1=" + good, ErrInvalidSignature},
		{"empty t", one, body, "t=,v1=" + good, ErrInvalidSignature},
		{"t not a number", one, body, header("soon", "v1="+good), ErrInvalidSignature},
		{"t negative", one, body, header("-1", "v1="+good), ErrInvalidSignature},
		{"two t", one, body, header(ts, "t="+ts, "v1="+good), ErrInvalidSignature},
		{"short v1", one, body, header(ts, "v1="+good[:62]), ErrInvalidSignature},
		{"body alone signed", one, body, header(ts, "v1="+hexSum(sha256.New, secret, body)), ErrInvalidSignature},
		{"secret base64-decoded by mistake", one, body, header(ts, "v1="+v1(secret[len("whsec_"):], ts, body)), ErrInvalidSignature},
		{"only separators", one, body, ",,,", ErrInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, "stripe", tt.o)
			r := post(tt.body, stripeSig, tt.header)
			r.Now = now
			before := bytes.Clone(tt.body)
			res, err := v.Verify(r)
			checkErr(t, err, tt.err, secret, old, good)
			if err == nil && (res.DeliveryID != "evt_1QxyzStripeTest" || res.Event != "invoice.paid" || res.Reply != nil) {
				t.Fatalf("Verify = %+v", res)
			}
			if !bytes.Equal(tt.body, before) {
				t.Fatal("Verify modified the body")
			}
		})
	}
	if s := mustNew(t, "stripe", one).Scheme(); s != "stripe" {
		t.Fatalf("Scheme() = %q", s)
	}
}

// TestStripeResult covers the delivery id and event read from verified bodies.
func TestStripeResult(t *testing.T) {
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	v := mustNew(t, "stripe", Options{Secrets: []string{"whsec_k"}})
	for _, tt := range []struct {
		name, body, id, event string
	}{
		{"event", `{"id":"evt_1","type":"customer.subscription.updated"}`, "evt_1", "customer.subscription.updated"},
		{"nested ids ignored", `{"data":{"object":{"id":"in_1","type":"x"}},"id":"evt_2","type":"invoice.paid"}`, "evt_2", "invoice.paid"},
		{"escaped", `{"id":"evt_\u0033","type":"invoice.p\u0061id"}`, "evt_3", "invoice.paid"},
		{"no id", `{"type":"invoice.paid"}`, "", "invoice.paid"},
		{"not strings", `{"id":7,"type":null}`, "", ""},
		{"not json", `id=evt_1`, "", ""},
		{"empty body", ``, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			r := post(body, stripeSig, "t="+ts+",v1="+hexSum(sha256.New, "whsec_k", []byte(ts+"."), body))
			r.Now = now
			res, err := v.Verify(r)
			if err != nil || res.DeliveryID != tt.id || res.Event != tt.event {
				t.Fatalf("Verify = %+v, %v; want id %q event %q", res, err, tt.id, tt.event)
			}
		})
	}
	// Without a clock in the request, Verify uses time.Now.
	ts = strconv.FormatInt(time.Now().Unix(), 10)
	body := []byte(`{}`)
	if _, err := v.Verify(post(body, stripeSig, "t="+ts+",v1="+hexSum(sha256.New, "whsec_k", []byte(ts+"."), body))); err != nil {
		t.Fatalf("zero Request.Now: %v", err)
	}
}

// TestNewProviderSchemes covers the configuration errors of stripe, slack, shopify,
// standard-webhooks (and svix), gitlab, linear and paddle.
func TestNewProviderSchemes(t *testing.T) {
	const secret = "s3cr3t-never-shown"
	for _, scheme := range []string{"stripe", "slack", "shopify", "standard-webhooks", "svix", "gitlab", "linear", "paddle"} {
		sec := []string{secret}
		if scheme == "standard-webhooks" || scheme == "svix" {
			sec = []string{"whsec_czNjcjN0LW5ldmVyLXNob3du"}
		}
		tests := []struct {
			name  string
			o     Options
			field string
			err   error
		}{
			{"no secret", Options{}, "secrets", ErrNoSecret},
			{"empty secret", Options{Secrets: append(sec, "")}, "secrets", ErrNoSecret},
			{"unused header", Options{Secrets: sec, Header: "X-Sig"}, "header", ErrInvalidOption},
			{"unused allow_sha1", Options{Secrets: sec, AllowSHA1: true}, "allow_sha1", ErrInvalidOption},
			{"unused public_key", Options{Secrets: sec, PublicKey: "ab"}, "public_key", ErrInvalidOption},
			{"negative tolerance", Options{Secrets: sec, Tolerance: -time.Second}, "tolerance", ErrInvalidOption},
		}
		switch scheme {
		case "shopify":
			tests[5].name = "tolerance, which shopify signs none of"
		case "gitlab":
			tests = append(tests, struct {
				name  string
				o     Options
				field string
				err   error
			}{"tolerance without signing token", Options{Secrets: sec, Tolerance: time.Minute}, "tolerance", ErrInvalidOption})
		}
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				v, err := New(scheme, tt.o)
				if v != nil {
					t.Fatalf("New returned a verifier with error %v", err)
				}
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, tt.err) {
					t.Fatalf("New = %v, want field %q wrapping %v", err, tt.field, tt.err)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), sec[0]) {
					t.Fatalf("Error() = %q shows the secret", err)
				}
			})
		}
		if _, err := New(scheme, Options{Secrets: sec, Tolerance: 0}); err != nil {
			t.Errorf("New(%q) with defaults: %v", scheme, err)
		}
	}
}

// TestConcurrentProviderSchemes runs the verifiers of stripe, slack, standard-webhooks,
// gitlab and paddle from many goroutines; with -race it checks that the pooled MAC states
// and signed-text buffers are never shared.
func TestConcurrentProviderSchemes(t *testing.T) {
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	const sw = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stripeV := mustNew(t, "stripe", Options{Secrets: []string{"a", "b"}})
	slackV := mustNew(t, "slack", Options{Secrets: []string{"a", "b"}})
	paddleV := mustNew(t, "paddle", Options{Secrets: []string{"a", "b"}})
	swV := mustNew(t, "standard-webhooks", Options{Secrets: []string{"whsec_b3RoZXI=", sw}})
	gitLabV := mustNew(t, "gitlab", Options{Secrets: []string{"tok", sw}})
	type request struct {
		v Verifier
		r *Request
	}
	var work [8][]request
	for i := range work {
		secret := []string{"a", "b"}[i%2]
		body := []byte(`{"id":"evt_` + strconv.Itoa(i) + `","type":"x"}`)
		id := "msg_" + strconv.Itoa(i)
		work[i] = []request{
			{stripeV, post(body, stripeSig, "t="+ts+",v1="+hexSum(sha256.New, secret, []byte(ts+"."), body))},
			{slackV, post(body, slackSig, "v0="+hexSum(sha256.New, secret, []byte("v0:"+ts+":"), body), slackTimestamp, ts)},
			{paddleV, post(body, paddleSig, "ts="+ts+";h1="+hexSum(sha256.New, secret, []byte(ts+":"), body))},
			{swV, post(body, "webhook-id", id, "webhook-timestamp", ts, "webhook-signature", swSign(t, sw, id, ts, body))},
			{gitLabV, post(body, "webhook-id", id, "webhook-timestamp", ts, "webhook-signature", swSign(t, sw, id, ts, body), gitLabEvent, "Issue Hook")},
		}
		for _, q := range work[i] {
			q.r.Now = now
		}
	}
	var wg sync.WaitGroup
	for _, reqs := range work {
		wg.Go(func() {
			for range 100 {
				for _, q := range reqs {
					if _, err := q.v.Verify(q.r); err != nil {
						t.Errorf("%s: %v", q.v.Scheme(), err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// refStripeStyle is a reference reading of a header of the Stripe shape, written with the
// standard library: the text of its single timestamp element and the decoded signature
// elements, ok false when an element is not key=value or there is not exactly one stamp.
func refStripeStyle(h, sep, stampKey, sigKey string) (stamp string, sigs [][]byte, ok bool) {
	stamps := 0
	for _, el := range strings.Split(h, sep) {
		el = strings.Trim(el, " \t")
		if el == "" {
			continue
		}
		k, v, found := strings.Cut(el, "=")
		if !found {
			return "", nil, false
		}
		switch k {
		case stampKey:
			stamp = v
			stamps++
		case sigKey:
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	return stamp, sigs, stamps == 1
}

// fuzzStripeStyle drives FuzzStripe and FuzzPaddle: random headers and bodies must never
// panic, modify the body, or pass without a signature element that is the HMAC of the
// header's own timestamp and the body; a genuine header must pass and yield the id and
// event encoding/json reads.
func fuzzStripeStyle(f *testing.F, scheme, header, sep, stampKey, sigKey, join, idKey, typeKey string) {
	const secret = "fuzz-secret"
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"` + idKey + `":"x_1","` + typeKey + `":"a.b"}`)
	good := hexSum(sha256.New, secret, []byte(ts+join), body)
	f.Add(body, stampKey+"="+ts+sep+sigKey+"="+good)
	f.Add(body, stampKey+"="+ts+sep+sigKey+"=dummy"+sep+sigKey+"="+strings.ToUpper(good))
	f.Add(body, sigKey+","+stampKey+"="+ts)
	f.Add([]byte{}, stampKey+"="+sep+sep+"=")
	f.Add([]byte(`{"`+idKey+`":"\u00e9\ud800"}`), " "+stampKey+"=-1 "+sep+" "+sigKey+"=00")
	v := mustNew(f, scheme, Options{Secrets: []string{"other-secret", secret}})
	f.Fuzz(func(t *testing.T, body []byte, h string) {
		before := bytes.Clone(body)
		r := &Request{Method: "POST", Header: headers(header, h), Body: body, Now: now}
		_, err := v.Verify(r)
		if !bytes.Equal(body, before) {
			t.Fatal("Verify modified the body")
		}
		if err != nil && !errors.Is(err, ErrMissingSignature) && !errors.Is(err, ErrInvalidSignature) && !errors.Is(err, ErrStaleTimestamp) {
			t.Fatalf("error of no class: %v", err)
		}
		if err == nil || errors.Is(err, ErrStaleTimestamp) {
			stamp, sigs, ok := refStripeStyle(h, sep, stampKey, sigKey)
			want := sum(sha256.New, secret, []byte(stamp+join), body)
			genuine := false
			for _, s := range sigs {
				genuine = genuine || ok && hmac.Equal(s, want)
			}
			if !genuine {
				t.Fatalf("%q passed the signature check without the HMAC of its timestamp and the body", h)
			}
		}

		// The same body, genuinely signed.
		h = stampKey + "=" + ts + sep + sigKey + "=" + hexSum(sha256.New, secret, []byte(ts+join), body)
		res, err := v.Verify(&Request{Method: "POST", Header: headers(header, h), Body: body, Now: now})
		if err != nil {
			t.Fatalf("genuine signature refused: %v", err)
		}
		if !json.Valid(body) {
			return
		}
		for _, f := range []struct{ key, got string }{{typeKey, res.Event}, {idKey, res.DeliveryID}} {
			var want string
			if raw, ok := refField(body, f.key); ok {
				_ = json.Unmarshal(raw, &want)
			}
			if f.key == idKey && want == "" && idKey == paddleNotificationKey {
				if raw, ok := refField(body, paddleEventIDKey); ok {
					_ = json.Unmarshal(raw, &want)
				}
			}
			if f.got != want {
				t.Fatalf("%s = %q, encoding/json reads %q", f.key, f.got, want)
			}
		}
	})
}

// FuzzStripe fuzzes the Stripe-Signature parser and the body fields (see fuzzStripeStyle).
func FuzzStripe(f *testing.F) {
	fuzzStripeStyle(f, "stripe", stripeSig, ",", "t", "v1", ".", stripeIDKey, stripeTypeKey)
}

// BenchmarkStripe verifies a genuine 1 KiB event, the common case, and a forged one.
func BenchmarkStripe(b *testing.B) {
	const head, tail = `{"id":"evt_1QxyzStripeTest","object":"event","data":{"object":{"note":"`, `"}},"type":"invoice.paid"}`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-len(tail)) + tail)
	now := time.Unix(1767225600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	run := func(b *testing.B, o Options, secret string, wantErr bool) {
		v := mustNew(b, "stripe", o)
		h := pairs{stripeSig, "t=" + ts + ",v1=" + hexSum(sha256.New, secret, []byte(ts+"."), body)}
		r := &Request{Method: "POST", Header: h.get, Body: body, Now: now}
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := v.Verify(r); (err != nil) != wantErr {
				b.Fatal(err)
			}
		}
	}
	b.Run("genuine", func(b *testing.B) { run(b, Options{Secrets: []string{"whsec_s"}}, "whsec_s", false) })
	b.Run("second-secret", func(b *testing.B) { run(b, Options{Secrets: []string{"whsec_new", "whsec_s"}}, "whsec_s", false) })
	b.Run("forged", func(b *testing.B) { run(b, Options{Secrets: []string{"whsec_s"}}, "whsec_x", true) })
}
