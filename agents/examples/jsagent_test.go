package examples_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents/agentstest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJavaScriptAgent runs the JavaScript labeler agent against a real JetStream when Node is
// installed: it must consume a webhook and emit an event whose id matches subjects.DerivedID,
// proving the contract can be followed without the Go SDK.
func TestJavaScriptAgent(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir, _ := filepath.Abs("labeler-js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "nats")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Skip("npm is not installed")
		}
		cmd := exec.Command(npm, "install", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install: %v\n%s", err, out)
		}
	}
	srv := agentstest.Start(t)
	nc := srv.Connect(t)
	js, _ := jetstream.New(nc)

	cmd := exec.Command(node, "labeler.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NATS_URL="+srv.ClientURL())
	out, _ := os.CreateTemp(t.TempDir(), "labeler-*.log")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	msg := nats.NewMsg(subjects.Webhook("github", "issues.opened"))
	msg.Header.Set(subjects.HeaderID, "github:js-1")
	msg.Header.Set(subjects.HeaderMsgID, "github:js-1")
	msg.Data = []byte(`{"action":"opened","issue":{"number":9,"title":"Crash when saving"}}`)
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	stream, _ := js.Stream(context.Background(), subjects.StreamAgents)
	deadline := time.Now().Add(30 * time.Second)
	var got *jetstream.RawStreamMsg
	for {
		got, err = stream.GetLastMsgForSubject(context.Background(), "agents.labeler.events.issue.labeled")
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) || time.Now().After(deadline) {
			logs, _ := os.ReadFile(out.Name())
			t.Fatalf("no event from the JavaScript agent: %v\n%s", err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if want := subjects.DerivedID("github:js-1", "labeler", "issue.labeled", 0); got.Header.Get(subjects.HeaderID) != want {
		t.Fatalf("JavaScript derived id %q, Go derives %q", got.Header.Get(subjects.HeaderID), want)
	}
	var body struct {
		Number int      `json:"number"`
		Labels []string `json:"labels"`
	}
	if err := json.Unmarshal(got.Data, &body); err != nil || body.Number != 9 || len(body.Labels) == 0 || body.Labels[0] != "bug" {
		t.Fatalf("event body %s", got.Data)
	}
	if c := got.Header.Get(subjects.HeaderCausationID); c != "github:js-1" {
		t.Fatalf("causation %q", c)
	}
}
