package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents/agentstest"
	"github.com/hookbus/hookbus/agents/relay"
	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"
)

// adminGet GETs path from a relay's admin listener and returns the status and the body.
func adminGet(t *testing.T, r *relay.Relay, path string) (int, string) {
	t.Helper()
	waitFor(t, "the admin listener", func() bool { return r.AdminAddr() != "" })
	resp, err := http.Get("http://" + r.AdminAddr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrapeRelay returns the /metrics text and its hookbus_relay_* samples, by series
// ("name{labels}", as exposed) to value.
func scrapeRelay(t *testing.T, r *relay.Relay) (string, map[string]string) {
	t.Helper()
	status, text := adminGet(t, r, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, text)
	}
	samples := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "hookbus_relay_") {
			i := strings.LastIndexByte(line, ' ')
			samples[line[:i]] = line[i+1:]
		}
	}
	return text, samples
}

var metricOutcomes = []string{"delivered", "retry", "rate_limited", "held", "circuit_open", "aborted",
	"exhausted", "gone", "rejected", "blocked"}

// checkDeliveries compares every outcome's count of endpoint with want (absent: 0).
func checkDeliveries(t *testing.T, samples map[string]string, endpoint string, want map[string]int) {
	t.Helper()
	for _, o := range metricOutcomes {
		key := fmt.Sprintf(`hookbus_relay_deliveries_total{endpoint=%q,outcome=%q}`, endpoint, o)
		if got, w := samples[key], fmt.Sprint(want[o]); got != w {
			t.Errorf("%s = %q, want %s", key, got, w)
		}
	}
}

func checkSample(t *testing.T, samples map[string]string, key, want string) {
	t.Helper()
	if got := samples[key]; got != want {
		t.Errorf("%s = %q, want %s", key, got, want)
	}
}

// TestMetricsCountKnownTraffic sends one event to endpoints that answer in known ways, a
// task callback and a refused callback URL, and checks every count scraped over HTTP, the
// gauges, and that no label carries a URL, an id or a subject.
func TestMetricsCountKnownTraffic(t *testing.T) {
	srv := agentstest.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	answers := func(seq ...int) func(int, http.ResponseWriter) int {
		return func(n int, _ http.ResponseWriter) int { return seq[min(n, len(seq)-1)] }
	}
	ok := newReceiver(t, nil)
	flaky := newReceiver(t, answers(500, 500, 200))
	gone := newReceiver(t, always(http.StatusGone))
	strict := newReceiver(t, always(http.StatusBadRequest))
	throttled := newReceiver(t, answers(http.StatusTooManyRequests, 200))
	down := newReceiver(t, always(http.StatusServiceUnavailable))
	busy := newReceiver(t, func(_ int, w http.ResponseWriter) int {
		w.Header().Set("Retry-After", "3600")
		return http.StatusTooManyRequests
	})
	callbacks := newReceiver(t, nil)

	dead := endpoint(t, "dead", down.srv.URL, "webhooks.demo.>")
	dead.Schedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
	dead.Breaker = relay.Breaker{Failures: 2, Cooldown: time.Hour}
	dead.MaxHold = 10 * time.Millisecond
	paused := endpoint(t, "paused", busy.srv.URL, "webhooks.demo.>")
	paused.Schedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}
	paused.MaxHold = 10 * time.Millisecond
	cfg := callbackConfig(t, callbacks.srv.URL)
	cfg.Endpoints = []relay.Endpoint{
		endpoint(t, "ok", ok.srv.URL+"/hooks?token=s3cret", "webhooks.demo.>"),
		endpoint(t, "flaky", flaky.srv.URL, "webhooks.demo.>"),
		endpoint(t, "gone", gone.srv.URL, "webhooks.demo.>"),
		endpoint(t, "strict", strict.srv.URL, "webhooks.demo.>"),
		endpoint(t, "throttled", throttled.srv.URL, "webhooks.demo.>"),
		dead,
		paused,
	}
	cfg.Admin.Listen = "127.0.0.1:0"
	r, _ := startRelay(t, srv.Connect(t), cfg)

	// A second relay without loopback allowed: its endpoint's address is refused at dial.
	port := ok.srv.URL[strings.LastIndexByte(ok.srv.URL, ':')+1:]
	guarded, _ := startRelay(t, srv.Connect(t), relay.Config{
		Endpoints: []relay.Endpoint{endpoint(t, "inside", "http://localhost:"+port+"/", "webhooks.demo.>")},
		Admin:     relay.Admin{Listen: "127.0.0.1:0"},
	})

	publish(t, js, "webhooks.demo.lead.created", "demo:m1", []byte(`{"lead":"ada"}`))
	publishTask(t, js, "t-refused", "a", "b", "check", callbacks.srv.URL+"/elsewhere")
	publish(t, js, subjects.TaskStatus("b", "a", subjects.TaskCompleted), "t-ok-done", []byte(`{"ok":true}`),
		subjects.HeaderTaskID, "t-ok", subjects.HeaderTaskRequester, "a", subjects.HeaderTaskWorker, "b",
		subjects.HeaderTaskState, subjects.TaskCompleted, subjects.HeaderTaskKind, "check",
		relay.HeaderCallbackURL, callbacks.srv.URL+"/callbacks/a/done?token=s3cret")

	// ok 1, flaky 3, gone 1, strict 1, throttled 2, dead 5, paused 3, callback 1, refused
	// callback 1, inside 1: each attempt is counted before its delivery event is stored.
	waitFor(t, "every attempt", func() bool { return len(attempts(t, js)) == 19 })

	text, samples := scrapeRelay(t, r)
	checkDeliveries(t, samples, "ok", map[string]int{"delivered": 1})
	checkDeliveries(t, samples, "flaky", map[string]int{"retry": 2, "delivered": 1})
	checkDeliveries(t, samples, "gone", map[string]int{"gone": 1})
	checkDeliveries(t, samples, "strict", map[string]int{"rejected": 1})
	checkDeliveries(t, samples, "throttled", map[string]int{"rate_limited": 1, "delivered": 1})
	checkDeliveries(t, samples, "dead", map[string]int{"retry": 2, "circuit_open": 2, "exhausted": 1})
	checkDeliveries(t, samples, "paused", map[string]int{"rate_limited": 1, "held": 1, "exhausted": 1})
	checkDeliveries(t, samples, "cb-agent-a", map[string]int{"delivered": 1})
	checkSample(t, samples, `hookbus_relay_deliveries_total{endpoint="tasks",outcome="blocked"}`, "1")
	for ep, n := range map[string]string{"ok": "1", "flaky": "3", "gone": "1", "strict": "1", "throttled": "2", "dead": "2", "paused": "1", "cb-agent-a": "1"} {
		checkSample(t, samples, fmt.Sprintf(`hookbus_relay_delivery_seconds_count{endpoint=%q}`, ep), n)
		checkSample(t, samples, fmt.Sprintf(`hookbus_relay_inflight_deliveries{endpoint=%q}`, ep), "0")
		enabled, open := "1", "0"
		switch ep {
		case "gone":
			enabled = "0"
		case "dead":
			open = "1"
		}
		checkSample(t, samples, fmt.Sprintf(`hookbus_relay_endpoint_enabled{endpoint=%q}`, ep), enabled)
		checkSample(t, samples, fmt.Sprintf(`hookbus_relay_circuit_open{endpoint=%q}`, ep), open)
	}

	guardedText, guardedSamples := scrapeRelay(t, guarded)
	checkDeliveries(t, guardedSamples, "inside", map[string]int{"blocked": 1})
	checkSample(t, guardedSamples, `hookbus_relay_delivery_seconds_count{endpoint="inside"}`, "0")

	// Labels are bounded: configured names and known outcomes only, nothing from the traffic.
	label := regexp.MustCompile(`(\w+)="([^"]*)"`)
	names := []string{"ok", "flaky", "gone", "strict", "throttled", "dead", "paused", "cb-agent-a", "tasks", "inside"}
	for series := range joinMaps(samples, guardedSamples) {
		for _, m := range label.FindAllStringSubmatch(series, -1) {
			switch k, v := m[1], m[2]; {
			case k == "endpoint" && slices.Contains(names, v), k == "outcome" && slices.Contains(metricOutcomes, v), k == "le":
			default:
				t.Errorf("series %s: label %s=%q", series, k, v)
			}
		}
	}
	for _, leak := range []string{"demo:m1", "t-ok", "t-refused", "webhooks.demo", "s3cret", "/hooks", "/callbacks", "://", "127.0.0.1:" + port} {
		if strings.Contains(text, leak) || strings.Contains(guardedText, leak) {
			t.Errorf("/metrics carries %q", leak)
		}
	}

	// Every relay metric the shipped alert rules use exists.
	rules, err := os.ReadFile("../../configs/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(rules, &doc); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	for _, g := range doc.Groups {
		for _, rule := range g.Rules {
			for _, name := range regexp.MustCompile(`hookbus_relay_[a-z_]+`).FindAllString(rule.Expr, -1) {
				if !strings.Contains(text, "\n"+name) && !strings.Contains(text, "# TYPE "+strings.TrimSuffix(name, "_bucket")) {
					t.Errorf("alert %s uses %s, which /metrics does not expose", rule.Alert, name)
				}
			}
		}
	}
}

func joinMaps(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestReadyzFollowsNATSAndConsumers: /healthz answers while the process runs; /readyz
// answers 200 once the consumers run, 503 while NATS is away and 200 again after, and 503
// naming the consumer when one is deleted from under the relay.
func TestReadyzFollowsNATSAndConsumers(t *testing.T) {
	srv := agentstest.Start(t)
	rc := newReceiver(t, nil)
	nc := srv.Connect(t, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	r, _ := startRelay(t, nc, relay.Config{
		Endpoints: []relay.Endpoint{endpoint(t, "ok", rc.srv.URL, "webhooks.demo.>", "agents.triage.events.>")},
		SSRF:      loopback,
		Admin:     relay.Admin{Listen: "127.0.0.1:0"},
	})
	readyz := func(want int, says string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			status, body := adminGet(t, r, "/readyz")
			if status == want && strings.Contains(body, says) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz: %d %q, want %d %q", status, body, want, says)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if status, _ := adminGet(t, r, "/healthz"); status != http.StatusOK {
			t.Fatalf("/healthz: %d", status)
		}
	}
	readyz(http.StatusOK, "ready")

	srv.Shutdown()
	srv.WaitForShutdown()
	readyz(http.StatusServiceUnavailable, "NATS not connected")
	srv.Restart(t)
	readyz(http.StatusOK, "ready")

	js, _ := jetstream.New(srv.Connect(t))
	if err := js.DeleteConsumer(context.Background(), subjects.StreamAgents, "relay-ok"); err != nil {
		t.Fatal(err)
	}
	readyz(http.StatusServiceUnavailable, "consumer relay-ok on stream AGENTS")
}

// TestAdminListenInvalid: an invalid admin.listen stops the config load, naming the key
// with its position; Validate names it too; an address in use stops Run.
func TestAdminListenInvalid(t *testing.T) {
	ep := "endpoints:\n  a:\n    url: https://x.example.com/\n    subjects: [agents.>]\n    secrets: [" + secret1 + "]\n"
	path := filepath.Join(t.TempDir(), "relay.yaml")
	load := func(admin string) (*relay.Config, error) {
		t.Helper()
		if err := os.WriteFile(path, []byte(ep+admin), 0o600); err != nil {
			t.Fatal(err)
		}
		return relay.Load(path, envOf(nil))
	}
	for _, listen := range []string{"8082", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:http", "bad host:8082", ":", "[::1]:-1"} {
		_, err := load(fmt.Sprintf("admin:\n  listen: %q\n", listen))
		want := fmt.Sprintf("%s:7:11: admin.listen: invalid address %q", path, listen)
		if !errors.Is(err, relay.ErrInvalid) || !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("listen %q: %v; want %s", listen, err, want)
		}
	}
	if _, err := load("admin: {listn: 127.0.0.1:8082}\n"); err == nil || !strings.Contains(err.Error(), `unknown key "listn" in admin`) {
		t.Errorf("unknown key: %v", err)
	}
	for _, listen := range []string{"127.0.0.1:8082", ":8082", "[::1]:0", "localhost:9100", ""} {
		cfg, err := load(fmt.Sprintf("admin:\n  listen: %q\n", listen))
		if err != nil || cfg.Admin.Listen != listen {
			t.Errorf("listen %q: %v", listen, err)
		}
	}

	srv := agentstest.Start(t)
	cfg := relay.Config{Endpoints: []relay.Endpoint{endpoint(t, "a", "https://x.example.com/", "agents.>")}, Admin: relay.Admin{Listen: "localhost"}}
	if _, err := relay.New(srv.Connect(t), &cfg, zeroLog()); !errors.Is(err, relay.ErrInvalid) || !strings.Contains(err.Error(), `admin.listen: invalid address "localhost"`) {
		t.Errorf("New: %v", err)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg.Admin.Listen = taken.Addr().String()
	r, err := relay.New(srv.Connect(t), &cfg, zeroLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "relay: admin.listen:") {
		t.Errorf("Run with the address taken: %v", err)
	}
}
