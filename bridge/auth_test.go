package bridge_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/examples"
	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/bridge/ops"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const authConfig = `
http: {listen: "127.0.0.1:0"}
admin: {listen: ""}
nats:
  embedded:
    listen: "127.0.0.1:-1"
    store_dir: "${STORE}"
    auth:
      agents:
        triage: {}
        notify: {password: "${NOTIFY_PW}"}
        biller: {}
sources:
  github:
    verify: github
    secrets: ["` + githubSecret + `"]
`

// permErrors collects the asynchronous permission errors the server sends a client.
type permErrors struct {
	mu   sync.Mutex
	errs []error
}

func (p *permErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, err)
}

func (p *permErrors) has(subject string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		if errors.Is(e, nats.ErrPermissionViolation) && strings.Contains(e.Error(), subject) {
			return true
		}
	}
	return false
}

// TestAgentPermissions: with auth on, each agent logs in with its own password, does its
// whole job (consume, emit, done records, dead letters, copies replayed to it alone), and is
// refused everything that is another's: publishing webhooks, another agent's events or
// copies on another agent's replay subject, binding another agent's consumer, reading
// other inboxes.
func TestAgentPermissions(t *testing.T) {
	store := t.TempDir()
	h := start(t, loadConfig(t, authConfig, map[string]string{"STORE": store, "NOTIFY_PW": "notify-pw"}))
	creds := filepath.Join(store, "credentials")
	for _, f := range []string{"hookbus", "triage", "biller"} {
		st, err := os.Stat(embedded.PasswordFile(creds, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("password file of %s: %v %v", f, err, st)
		}
	}
	if _, err := os.Stat(embedded.PasswordFile(creds, "notify")); err == nil {
		t.Fatal("a password given in the config was also written to a file")
	}
	pw := func(name string) string {
		b, err := os.ReadFile(embedded.PasswordFile(creds, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	url := h.addrs.NATS

	if _, err := nats.Connect(url); err == nil {
		t.Fatal("connected without credentials")
	}
	if _, err := nats.Connect(url, nats.UserInfo("triage", "wrong")); err == nil {
		t.Fatal("connected with a wrong password")
	}

	// The seed chain runs with confined agents.
	runAs := func(cfg agents.Config, password string) {
		runAgent(t, url, cfg, nats.UserInfo(cfg.Name, password))
	}
	runAs(examples.TriageConfig(), pw("triage"))
	runAs(examples.NotifyConfig(""), "notify-pw")
	var charged sync.Map
	var charges, billerReplays atomic.Int32
	runAs(agents.Config{Name: "biller", Subjects: []string{"webhooks.github.>"}, MaxDeliver: 1,
		Handler: agents.HandlerFunc(func(ctx context.Context, ev *agents.Event) error {
			if ev.Replay && ev.Subject == "webhooks.github.issues.opened" {
				billerReplays.Add(1)
			}
			if _, err := ev.Once(ctx, "charge", func(context.Context) error { charged.Store(ev.ID, true); charges.Add(1); return nil }); err != nil {
				return err
			}
			return agents.Permanent(errors.New("after charging, give up"))
		})}, pw("biller"))

	body := issuesBody("Login is broken")
	if a := post(t, h.addrs.HTTP, "/webhooks/github", body, githubHeaders("auth-1", "issues", body, githubSecret)); a.status != 200 {
		t.Fatalf("webhook: %d %s", a.status, a.body)
	}
	waitMsgs(t, h.js, "agents.notify.events.>", 1)
	waitMsgs(t, h.js, "dlq.biller", 1)
	if _, ok := charged.Load("github:auth-1"); !ok {
		t.Fatal("the biller's done record path failed under its permissions")
	}

	// A replay to the biller alone (by the admin login, as the CLI does) reaches it through
	// the consumer it created on its own for its replay subject: handled as the original,
	// the done step skipped, dead-lettered again under the original subject.
	if _, err := ops.Replay(context.Background(), h.js, ops.ReplayOptions{Subject: "webhooks.github.>", Range: ops.Range{FromSeq: 1}, ToAgent: "biller"}); err != nil {
		t.Fatalf("replay to the biller: %v", err)
	}
	dls := waitMsgs(t, h.js, "dlq.biller", 2)
	if billerReplays.Load() != 1 || charges.Load() != 1 || dls[1].Header.Get(subjects.HeaderDLQSubject) != "webhooks.github.issues.opened" {
		t.Fatalf("the replayed copy: handled %d times, charged %d times, dead-lettered under %q",
			billerReplays.Load(), charges.Load(), dls[1].Header.Get(subjects.HeaderDLQSubject))
	}

	// Refusals, as triage.
	var perm permErrors
	nc, err := nats.Connect(url, nats.UserInfo("triage", pw("triage")), nats.CustomInboxPrefix(subjects.InboxPrefix("triage")), nats.ErrorHandler(perm.handler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	before := len(stored(t, h.js, "webhooks.>"))
	for _, subject := range []string{"webhooks.github.issues.opened", "agents.notify.events.message.sent", "dlq.notify",
		subjects.Replay("biller", "webhooks.github.issues.opened")} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := js.Publish(ctx, subject, []byte(`{}`))
		cancel()
		if err == nil {
			t.Errorf("triage published to %s", subject)
		}
		waitFor(t, "permission violation for "+subject, func() bool { return perm.has(subject) })
	}
	if n := len(stored(t, h.js, "webhooks.>")); n != before {
		t.Fatalf("webhooks stream grew from %d to %d", before, n)
	}
	if n := len(stored(t, h.js, "agents.notify.events.>")); n != 1 {
		t.Fatalf("notify has %d events, want its own 1", n)
	}
	if n := len(stored(t, h.js, subjects.Replays("biller"))); n != 1 {
		t.Fatalf("the biller's replay subject holds %d copies, want the admin's 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(ctx, subjects.StreamWebhooks, jetstream.ConsumerConfig{Durable: "notify", AckPolicy: jetstream.AckExplicitPolicy}); err == nil {
		t.Error("triage bound notify's consumer")
	}
	if _, err := nc.SubscribeSync("_INBOX.>"); err == nil {
		nc.Flush()
		waitFor(t, "refused subscription to other inboxes", func() bool { return perm.has("_INBOX.>") })
	}
	// And its own work is allowed: its own events.
	if _, err := js.Publish(context.Background(), "agents.triage.events.probe", nil); err != nil {
		t.Errorf("triage could not publish its own event: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
