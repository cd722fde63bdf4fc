package ops_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/bridge/ops"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// sendConfig has a source of each scheme hookbus can sign, with auth on, so the tools also
// log in as the admin.
const sendConfig = `
http: {listen: "127.0.0.1:0"}
admin: {listen: ""}
nats:
  embedded:
    listen: "127.0.0.1:-1"
    store_dir: "${STORE}"
    auth: {agents: {crm: {}}}
sources:
  github: {verify: github, secrets: ["gh-secret", "old"]}
  demo:
    verify: hmac-sha256
    header: X-Signature
    prefix: "sha256="
    encoding: base64
    id_header: X-Delivery
    event_header: X-Event
    secrets: ["demo-secret"]
  stamped:
    verify: hmac-sha512
    header: X-Sig
    timestamp_header: X-Ts
    signed_content: "{timestamp}.{body}"
    secrets: ["s"]
  open: {verify: none, event_header: X-Type}
  off: {verify: github, secrets: ["${UNSET_SECRET}"]}
`

// runBridge runs bridge.Run on cfg for the test and returns its addresses.
func runBridge(t *testing.T, cfg *config.Config) bridge.Addrs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan bridge.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- bridge.Run(ctx, cfg, zerolog.Nop(), func(a bridge.Addrs) { ready <- a }) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("bridge: %v", err)
			}
		})
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("bridge: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("bridge did not start")
	}
	return bridge.Addrs{}
}

func TestSend(t *testing.T) {
	store := t.TempDir()
	cfg, err := config.Parse("send.yaml", []byte(sendConfig), func(k string) (string, bool) {
		if k == "STORE" {
			return store, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	addrs := runBridge(t, cfg)

	// The tools find NATS through the config: the admin login from the credentials dir.
	target, err := ops.TargetOf(cfg, addrs.NATS)
	if err != nil || target.User != embedded.AdminUser || target.Password == "" {
		t.Fatalf("target: %+v %v", target, err)
	}
	nc, err := ops.Connect(target, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := ops.Connect(ops.Target{URL: addrs.NATS}, "test"); err == nil {
		t.Fatal("connected without the admin login to a server with auth")
	}

	tests := []struct {
		source, event, data, subject string
	}{
		{"github", "issues.opened", `{"issue":{"number":1}}`, "webhooks.github.issues.opened"},
		{"github", "ping", "", "webhooks.github.ping"},
		{"demo", "lead.created", `{"lead":"ada"}`, "webhooks.demo.lead.created"},
		{"stamped", "", `{}`, "webhooks.stamped.webhook"},
		{"open", "x.y", "", "webhooks.open.x.y"},
	}
	for _, tt := range tests {
		t.Run(tt.source+"/"+tt.event, func(t *testing.T) {
			var data []byte
			if tt.data != "" {
				data = []byte(tt.data)
			}
			res, err := ops.Send(ctxT(t), ops.SendOptions{Config: cfg, Source: tt.source, Event: tt.event, Data: data, URL: addrs.HTTP})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != 200 || !strings.Contains(res.Answer, `"duplicate":false`) {
				t.Fatalf("bridge answered %d %s", res.Status, res.Answer)
			}
			s, _ := js.Stream(ctxT(t), subjects.StreamWebhooks)
			m, err := s.GetLastMsgForSubject(ctxT(t), tt.subject)
			if err != nil {
				t.Fatalf("nothing stored on %s: %v", tt.subject, err)
			}
			if res.DeliveryID != "" && m.Header.Get(subjects.HeaderDeliveryID) != res.DeliveryID {
				t.Fatalf("stored delivery id %q, sent %q", m.Header.Get(subjects.HeaderDeliveryID), res.DeliveryID)
			}
			if tt.data != "" && !strings.Contains(string(m.Data), strings.Trim(tt.data, "{}")) {
				t.Fatalf("stored body %s", m.Data)
			}
		})
	}
	for name, o := range map[string]ops.SendOptions{
		"unknown source":   {Config: cfg, Source: "nope", Event: "x"},
		"disabled source":  {Config: cfg, Source: "off", Event: "x"},
		"action conflicts": {Config: cfg, Source: "github", Event: "issues.opened", Data: []byte(`{"action":"closed"}`), URL: addrs.HTTP},
		"bad url":          {Config: cfg, Source: "github", Event: "ping", URL: "ftp://x"},
		"no config":        {Source: "github"},
	} {
		if _, err := ops.Send(ctxT(t), o); !errors.Is(err, ops.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// A wrong secret is the bridge's to refuse: the answer comes back, no error.
	cfg.Source("demo").Options.Secrets = []string{"wrong"}
	res, err := ops.Send(ctxT(t), ops.SendOptions{Config: cfg, Source: "demo", URL: "http://" + addrs.HTTP + "/"})
	if err != nil || res.Status != 401 {
		t.Fatalf("wrong secret: %+v %v", res, err)
	}
	// A note when the event has nowhere to go.
	res, err = ops.Send(ctxT(t), ops.SendOptions{Config: cfg, Source: "stamped", Event: "lead.created", URL: addrs.HTTP})
	if err != nil || len(res.Notes) != 2 {
		t.Fatalf("notes: %+v %v", res, err)
	}
}
