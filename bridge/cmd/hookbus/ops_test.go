package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/hookbus/hookbus/bridge/ops"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// cli runs the command line in-process and returns its exit status and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestOpsCommands runs every recovery command against a running bridge with NATS auth on
// and real agents.
func TestOpsCommands(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hookbus.yaml")
	os.WriteFile(cfgPath, []byte(`
http: {listen: "127.0.0.1:0"}
admin: {listen: ""}
nats:
  embedded:
    listen: "127.0.0.1:-1"
    store_dir: "`+filepath.Join(dir, "data")+`"
    auth: {agents: {triage: {}}}
sources:
  github: {verify: github, secrets: ["gh"]}
  demo: {verify: hmac-sha256, header: X-Signature, prefix: "sha256=", id_header: X-Id, event_header: X-Event, secrets: ["d"]}
`), 0o600)
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan bridge.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- bridge.Run(ctx, cfg, zerolog.Nop(), func(a bridge.Addrs) { ready <- a }) }()
	t.Cleanup(func() { cancel(); <-done })
	var addrs bridge.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("bridge did not start")
	}
	conn := []string{"--config", cfgPath, "--nats", addrs.NATS}
	stdinTerminal = func() bool { return false } // as under CI: nobody to ask
	t.Cleanup(func() { stdinTerminal = func() bool { return isTerminal(os.Stdin) } })

	pw, _ := os.ReadFile(embedded.PasswordFile(filepath.Join(dir, "data", "credentials"), embedded.AdminUser))
	nc, err := nats.Connect(addrs.NATS, nats.UserInfo(embedded.AdminUser, strings.TrimSpace(string(pw))))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var triaged, crmHandled atomic.Int32
	var fixed atomic.Bool
	var replays atomic.Int32
	runAgent(t, nc, agents.Config{Name: "triage", Subjects: []string{"webhooks.github.>"},
		Handler: agents.HandlerFunc(func(_ context.Context, ev *agents.Event) error {
			triaged.Add(1)
			if ev.Replay && ev.Subject == "webhooks.github.issues.opened" {
				replays.Add(1)
			}
			return nil
		})})
	runAgent(t, nc, agents.Config{Name: "crm", Subjects: []string{"webhooks.demo.>"},
		Handler: agents.HandlerFunc(func(_ context.Context, ev *agents.Event) error {
			if !fixed.Load() {
				return agents.Permanent(errors.New("crm is down"))
			}
			crmHandled.Add(1)
			return nil
		})})

	// send: a github and an hmac webhook, signed as their senders would.
	if code, out, errOut := cli(t, "send", "github", "--config", cfgPath, "--event", "issues.opened", "--url", addrs.HTTP); code != 0 || !strings.HasPrefix(out, "200 ") {
		t.Fatalf("send github: %d %s %s", code, out, errOut)
	}
	data := filepath.Join(dir, "lead.json")
	os.WriteFile(data, []byte(`{"lead":"ada"}`), 0o600)
	if code, out, errOut := cli(t, "send", "demo", "--config", cfgPath, "--event", "lead.created", "--data", "@"+data, "--url", addrs.HTTP, "--json"); code != 0 || !strings.Contains(out, `"status": 200`) {
		t.Fatalf("send demo: %d %s %s", code, out, errOut)
	}
	waitUntil(t, "triage handles the webhook", func() bool { return triaged.Load() == 1 })

	// agents
	var list []ops.Agent
	waitUntil(t, "crm's dead letter", func() bool {
		code, out, _ := cli(t, append([]string{"agents", "--json"}, conn...)...)
		list = nil
		return code == 0 && json.Unmarshal([]byte(out), &list) == nil && len(list) == 2 && list[0].DeadLetters == 1
	})
	if list[0].Name != "crm" || list[1].Name != "triage" || !list[1].Pulling {
		t.Fatalf("agents: %+v", list)
	}
	if code, out, _ := cli(t, append([]string{"agents"}, conn...)...); code != 0 || !strings.Contains(out, "triage") || !strings.Contains(out, "DEAD LETTERS") {
		t.Fatalf("agents table: %d %s", code, out)
	}

	// rewind
	if code, out, errOut := cli(t, append([]string{"rewind", "triage", "--from-seq", "1"}, conn...)...); code != 0 || !strings.Contains(out, "rewound triage on WEBHOOKS to seq 1: 1 events") {
		t.Fatalf("rewind: %d %s %s", code, out, errOut)
	}
	waitUntil(t, "triage handles it again", func() bool { return triaged.Load() == 2 })
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"rewind", "nobody", "--since", "1h"}, 1, `unknown agent "nobody"`},
		{[]string{"rewind", "triage", "--since", "2x"}, 2, `"2x" is neither a duration`},
		{[]string{"rewind", "triage"}, 2, "exactly one of"},
		{[]string{"rewind", "--since", "1h"}, 2, "missing argument"},
		{[]string{"replay", "--subject", "webhooks.>", "--from-seq", "5", "--to-seq", "2"}, 2, "inverted range"},
		{[]string{"replay", "--subject", "webhooks.>", "--since", "2 days"}, 2, "--since"},
		{[]string{"replay", "--subject", "webhooks.>", "--from-seq", "1", "--to-agent", "nobody"}, 1, "unknown agent"},
		{[]string{"dlq", "redrive", "crm"}, 2, "--all"},
		{[]string{"dlq", "redrive", "crm", "--all"}, 1, "--force"},
		{[]string{"dlq", "purge", "crm", "--all"}, 2, "pass --yes"},
		{[]string{"dlq", "show", "999"}, 1, "no such message"},
		{[]string{"dlq", "frob"}, 2, "unknown subcommand"},
		{[]string{"tail", "a..b"}, 2, "empty token"},
	} {
		code, _, errOut := cli(t, append(c.args, conn...)...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
	if triaged.Load() != 2 {
		t.Fatalf("a refused command changed something: triage handled %d", triaged.Load())
	}

	// replay: dry, then to triage alone
	code, out, errOut := cli(t, append([]string{"replay", "--subject", "webhooks.github.>", "--from-seq", "1", "--dry-run", "--json"}, conn...)...)
	var dry struct {
		Total  uint64
		Events []ops.Replayed
	}
	if code != 0 || json.Unmarshal([]byte(out), &dry) != nil || dry.Total != 1 || len(dry.Events) != 1 {
		t.Fatalf("dry replay: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := cli(t, append([]string{"replay", "--subject", "webhooks.github.>", "--since", "1h", "--to-agent", "triage", "--run", "t1"}, conn...)...); code != 0 || !strings.Contains(out, "1 copies stored") {
		t.Fatalf("replay: %d %s %s", code, out, errOut)
	}
	waitUntil(t, "triage handles the replay", func() bool { return replays.Load() == 1 })

	// dlq
	code, out, _ = cli(t, append([]string{"dlq", "list", "crm", "--json"}, conn...)...)
	var dls []ops.DeadLetter
	if code != 0 || json.Unmarshal([]byte(out), &dls) != nil || len(dls) != 1 || !strings.Contains(dls[0].Reason, "crm is down") {
		t.Fatalf("dlq list: %d %s", code, out)
	}
	seq := strconv.FormatUint(dls[0].Seq, 10)
	if code, out, _ := cli(t, append([]string{"dlq", "show", seq}, conn...)...); code != 0 || !strings.Contains(out, "reason: crm is down") || !strings.Contains(out, `{"lead":"ada"}`) {
		t.Fatalf("dlq show: %d %s", code, out)
	}
	fixed.Store(true)
	if code, out, errOut := cli(t, append([]string{"dlq", "redrive", "crm", seq, "--force"}, conn...)...); code != 0 || !strings.Contains(out, "redriven "+seq+" of crm: webhooks.demo.lead.created → agents.crm.replay.webhooks.demo.lead.created") {
		t.Fatalf("dlq redrive: %d %s %s", code, out, errOut)
	}
	waitUntil(t, "crm handles the redriven event", func() bool { return crmHandled.Load() == 1 })
	if code, out, _ := cli(t, append([]string{"dlq", "list"}, conn...)...); code != 0 || !strings.Contains(out, "no dead letters") {
		t.Fatalf("dlq list after the redrive: %d %s", code, out)
	}

	// purge: two new dead letters; one purged after a "yes" typed at the prompt, the other
	// with --yes.
	fixed.Store(false)
	for range 2 {
		if code, _, errOut := cli(t, "send", "demo", "--config", cfgPath, "--url", addrs.HTTP); code != 0 {
			t.Fatalf("send: %s", errOut)
		}
	}
	waitUntil(t, "two new dead letters", func() bool {
		_, out, _ := cli(t, append([]string{"dlq", "list", "--json"}, conn...)...)
		return strings.Count(out, "crm is down") == 2
	})
	_, out, _ = cli(t, append([]string{"dlq", "list", "--json"}, conn...)...)
	json.Unmarshal([]byte(out), &dls)
	first := strconv.FormatUint(dls[0].Seq, 10)
	stdinTerminal = func() bool { return true }
	stdin = strings.NewReader("no\n")
	if code, _, errOut := cli(t, append([]string{"dlq", "purge", first}, conn...)...); code != 1 || !strings.Contains(errOut, "Type yes") || !strings.Contains(errOut, "not purged") {
		t.Fatalf("purge answered no: %d %s", code, errOut)
	}
	stdin = strings.NewReader("yes\n")
	if code, out, errOut := cli(t, append([]string{"dlq", "purge", first}, conn...)...); code != 0 || !strings.Contains(out, "1 dead letters purged") {
		t.Fatalf("purge answered yes: %d %s %s", code, out, errOut)
	}
	stdin = os.Stdin
	stdinTerminal = func() bool { return false }
	if code, out, errOut := cli(t, append([]string{"dlq", "purge", "crm", "--all", "--yes"}, conn...)...); code != 0 || !strings.Contains(out, "1 dead letters purged") {
		t.Fatalf("dlq purge --yes: %d %s %s", code, out, errOut)
	}

	// tail: the first event stored in the last hour, as a JSON line.
	code, out, errOut = cli(t, append([]string{"tail", "webhooks.>", "--since", "1h", "--count", "1", "--json"}, conn...)...)
	var ev map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &ev) != nil || ev["subject"] != "webhooks.github.issues.opened" || ev["preview"] == "" {
		t.Fatalf("tail: %d %s %s", code, out, errOut)
	}
	if code, out, _ := cli(t, append([]string{"tail", "*.github.>", "--since", "1h", "--count", "1"}, conn...)...); code != 0 || !strings.Contains(out, "WEBHOOKS#1 webhooks.github.issues.opened id=github:") {
		t.Fatalf("tail text: %d %s", code, out)
	}
}

func TestOpsHelp(t *testing.T) {
	for _, cmd := range []string{"agents", "rewind", "replay", "tail", "send", "dlq list", "dlq show", "dlq redrive", "dlq purge"} {
		code, _, errOut := cli(t, append(strings.Fields(cmd), "--help")...)
		if code != 0 || !strings.Contains(errOut, "usage: hookbus "+strings.Fields(cmd)[0]) || !strings.Contains(errOut, "-json") {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, errOut)
		}
	}
	if code, out, _ := cli(t, "dlq", "help"); code != 0 || !strings.Contains(out, "dlq redrive") {
		t.Errorf("dlq help: %d %s", code, out)
	}
	if code, _, _ := cli(t, "agents", "extra"); code != 2 {
		t.Errorf("agents extra: exit %d", code)
	}
	if code, _, errOut := cli(t, "agents", "--config", filepath.Join(t.TempDir(), "none.yaml")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing config: exit %d %s", code, errOut)
	}
	if code, _, errOut := cli(t, "send", "demo", "--config", "../../../configs/hookbus.yaml", "--url", "127.0.0.1:1"); code != 1 || !strings.Contains(errOut, "is the bridge running") {
		t.Errorf("send to nothing: exit %d %s", code, errOut)
	}
}

func runAgent(t *testing.T, nc *nats.Conn, cfg agents.Config) {
	t.Helper()
	cfg.Backoff = []time.Duration{50 * time.Millisecond}
	a, err := agents.New(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.Run(ctx); err != nil {
			t.Errorf("agent %s: %v", cfg.Name, err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
