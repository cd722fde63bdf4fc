package bridge_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/embedded/embeddedtest"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
)

func scrape(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	return string(b)
}

// TestMetricsCountKnownTraffic sends a known mix of requests and checks every count, the
// agent gauges, and that no label carries an id, a path or an event type.
func TestMetricsCountKnownTraffic(t *testing.T) {
	h := startDefault(t)
	for i, id := range []string{"m1", "m2", "m1"} {
		body := issuesBody("m")
		if a := post(t, h.addrs.HTTP, "/webhooks/github", body, githubHeaders(id, "issues", body, githubSecret)); a.status != 200 {
			t.Fatalf("request %d: %d", i, a.status)
		}
	}
	body := issuesBody("x")
	post(t, h.addrs.HTTP, "/webhooks/github", body, githubHeaders("m3", "issues", body, "wrong"))
	post(t, h.addrs.HTTP, "/webhooks/no-such-source-7f3a", body, nil)
	post(t, h.addrs.HTTP, "/webhooks/small", bytes.Repeat([]byte("a"), 2048), nil)

	// An agent with a consumer and one dead letter.
	ctx := context.Background()
	if _, err := h.js.CreateOrUpdateConsumer(ctx, subjects.StreamWebhooks, jetstream.ConsumerConfig{
		Durable: "triage", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "webhooks.github.>"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.js.Publish(ctx, subjects.DLQ("triage"), []byte("x")); err != nil {
		t.Fatal(err)
	}

	text := scrape(t, h.addrs.Admin)
	for _, want := range []string{
		`hookbus_requests_total{outcome="stored",source="github"} 2`,
		`hookbus_requests_total{outcome="duplicate",source="github"} 1`,
		`hookbus_requests_total{outcome="invalid_signature",source="github"} 1`,
		`hookbus_requests_total{outcome="unknown_source",source=""} 1`,
		`hookbus_requests_total{outcome="too_large",source="small"} 1`,
		`hookbus_verify_seconds_count{source="github"} 4`,
		`hookbus_publish_seconds_count{source="github"} 2`, // the repeat is answered from the horizon
		`hookbus_inflight_publishes 0`,
		`hookbus_agent_pending{agent="triage",stream="WEBHOOKS"} 2`,
		`hookbus_agent_dead_letters{agent="triage"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Every metric the shipped alert rules use exists.
	rules, err := os.ReadFile("../configs/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(rules, &doc); err != nil || len(doc.Groups) == 0 {
		t.Fatalf("alerts.yaml: %v", err)
	}
	for _, r := range doc.Groups[0].Rules {
		for _, name := range regexp.MustCompile(`hookbus_[a-z_]+`).FindAllString(r.Expr, -1) {
			if !strings.Contains(text, "\n"+name) && !strings.Contains(text, "# TYPE "+strings.TrimSuffix(name, "_bucket")) {
				t.Errorf("alert %s uses %s, which /metrics does not expose", r.Alert, name)
			}
		}
	}
	for _, leak := range []string{"m1", "no-such-source-7f3a", "issues.opened", githubSecret} {
		if strings.Contains(text, `"`+leak+`"`) || strings.Contains(text, leak+`"`) {
			t.Errorf("a label carries %q", leak)
		}
	}
}

// TestReadyzFlipsWithNATS: /readyz answers 503 while NATS is away and 200 again after.
func TestReadyzFlipsWithNATS(t *testing.T) {
	ns := embeddedtest.Start(t)
	nc, js := embeddedtest.Connect(t, ns, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err := bridge.EnsureStreams(context.Background(), js, subjects.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	admin, err := bridge.NewAdmin("127.0.0.1:0", nc, js, bridge.NewMetrics(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	go admin.Serve()
	defer admin.Close()
	readyz := func() int {
		resp, err := http.Get("http://" + admin.Addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := readyz(); c != 200 {
		t.Fatalf("ready before: %d", c)
	}
	store, url := ns.NATS().StoreDir(), ns.ClientURL()
	ns.Shutdown()
	if c := readyz(); c != 503 {
		t.Fatalf("while NATS is down: %d", c)
	}
	restartAt(t, url, store)
	deadline := time.Now().Add(20 * time.Second)
	for readyz() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("not ready again after NATS came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
