package relay_test

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookbus/hookbus/agents/relay"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var secret1 = newSecret("one", 32)

func TestParseShippedConfig(t *testing.T) {
	cfg, err := relay.Load("../../configs/relay.yaml", envOf(nil))
	if err != nil {
		t.Fatalf("configs/relay.yaml: %v", err)
	}
	if len(cfg.Endpoints) != 1 || len(cfg.Callbacks.Destinations) != 1 {
		t.Fatalf("endpoints %d, destinations %d", len(cfg.Endpoints), len(cfg.Callbacks.Destinations))
	}
	e := cfg.Endpoints[0]
	if e.Name != "demo-receiver" || e.URL != "http://127.0.0.1:9000/hooks" || len(e.Secrets) != 1 ||
		!reflect.DeepEqual(e.Subjects, []string{"agents.triage.events.>", "agents.notify.events.message.sent"}) {
		t.Errorf("endpoint %+v", e)
	}
	// Own timeout, inherited concurrency, schedule, breaker; headers merged.
	if e.Timeout != 5*time.Second || e.Concurrency != 4 || !reflect.DeepEqual(e.Schedule, relay.StandardSchedule) ||
		e.Jitter != 0.1 || e.Breaker != (relay.Breaker{Failures: 5, Cooldown: 30 * time.Second}) || e.MaxHold != time.Minute {
		t.Errorf("delivery %+v", e.Delivery)
	}
	if !reflect.DeepEqual(e.Headers, map[string]string{"User-Agent": "hookbus-relay/1", "X-Team": "support"}) {
		t.Errorf("headers %v", e.Headers)
	}
	d := cfg.Callbacks.Destinations[0]
	if d.URLPrefix != "http://127.0.0.1:9000/callbacks/" || d.Timeout != 15*time.Second || cfg.Callbacks.InputField != "callback_url" {
		t.Errorf("destination %+v", d)
	}
	if !cfg.SSRF.AllowLoopback || cfg.SSRF.AllowPrivate {
		t.Errorf("ssrf %+v", cfg.SSRF)
	}
	if cfg.Admin.Listen != "127.0.0.1:8082" {
		t.Errorf("admin %+v", cfg.Admin)
	}
}

func TestParseDefaultsAndOverrides(t *testing.T) {
	yml := `
endpoints:
  a:
    url: https://a.example.com/hook?token=${TOKEN}
    subjects: [webhooks.github.>]
    secrets: ["${S1}", "${S2:-` + newSecret("two", 40) + `}"]
    jitter: 0
    rate_limit: {per_second: 2.5}
    schedule: [1s, 1m]
  b:
    url: http://10.1.2.3:8080/
    subjects: ["agents.*.events.lead.>", dlq.triage]
defaults:
  secrets: ["${S1}"]
  breaker: {failures: 3}
ssrf:
  allow_cidrs: [10.1.0.0/16, 192.0.2.7]
`
	cfg, err := relay.Parse("r.yaml", []byte(yml), envOf(map[string]string{"S1": secret1, "TOKEN": "t0k"}))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Endpoints[0], cfg.Endpoints[1]
	if a.URL != "https://a.example.com/hook?token=t0k" || len(a.Secrets) != 2 || a.Jitter >= 0 ||
		a.RateLimit != (relay.RateLimit{PerSecond: 2.5, Burst: 3}) || !reflect.DeepEqual(a.Schedule, []time.Duration{time.Second, time.Minute}) {
		t.Errorf("a: %+v", a)
	}
	if len(b.Secrets) != 1 || b.Breaker.Failures != 3 || b.Breaker.Cooldown != relay.DefaultBreakerCooldown ||
		b.Timeout != relay.DefaultTimeout || b.Concurrency != relay.DefaultConcurrency || b.Jitter != relay.DefaultJitter {
		t.Errorf("b: %+v", b)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.0.2.7/32")}
	if !reflect.DeepEqual(cfg.SSRF.AllowCIDRs, want) {
		t.Errorf("cidrs %v", cfg.SSRF.AllowCIDRs)
	}
}

// TestParseErrors: each problem is reported with file:line:column and the key, all at once.
func TestParseErrors(t *testing.T) {
	ok := "    url: https://x.example.com/\n    subjects: [agents.>]\n    secrets: [" + secret1 + "]\n"
	for _, tc := range []struct {
		name, yml string
		want      []string
	}{
		{"unknown key", "endpoints:\n  a:\n" + ok + "    retries: 3\n", []string{`r.yaml:6:5: unknown key "retries" in endpoints.a`}},
		{"top-level typo", "endpoint: {}\n", []string{`r.yaml:1:1: unknown key "endpoint" in the top level`}},
		{"bad duration", "endpoints:\n  a:\n" + ok + "    timeout: 10x\n", []string{`r.yaml:6:14: endpoints.a.timeout: invalid duration "10x"`}},
		{"unset variable", "endpoints:\n  a:\n    url: ${NOPE}\n    subjects: [agents.>]\n    secrets: [" + secret1 + "]\n",
			[]string{`r.yaml:3:10: endpoints.a.url: NOPE is not set`}},
		{"not http", "endpoints:\n  a:\n    url: ftp://x/\n    subjects: [agents.>]\n    secrets: [" + secret1 + "]\n",
			[]string{`r.yaml:3:10: endpoints.a.url: "ftp://x/": want an http or https URL`}},
		{"user info", "endpoints:\n  a:\n    url: https://u:p@x/\n    subjects: [agents.>]\n    secrets: [" + secret1 + "]\n",
			[]string{`endpoints.a.url: a URL with user info`}},
		{"loopback literal", "endpoints:\n  a:\n    url: http://127.0.0.1:9/\n    subjects: [agents.>]\n    secrets: [" + secret1 + "]\n",
			[]string{`r.yaml:3:10: endpoints.a.url: relay: destination address refused: 127.0.0.1 is loopback (allow with ssrf.allow_loopback)`}},
		{"metadata literal", "ssrf: {allow_private: true, allow_loopback: true}\nendpoints:\n  a:\n    url: http://169.254.169.254/\n    subjects: [agents.>]\n    secrets: [" + secret1 + "]\n",
			[]string{`endpoints.a.url: relay: destination address refused: 169.254.169.254 is a cloud metadata address`}},
		{"bad filter", "endpoints:\n  a:\n    url: https://x/\n    subjects: [agents.>.x, foo.bar, \"a.b*\"]\n    secrets: [" + secret1 + "]\n",
			[]string{`r.yaml:4:16: endpoints.a.subjects[0]: filter "agents.>.x": > must be the last token`,
				`endpoints.a.subjects[1]: filter "foo.bar" is not under webhooks., agents. or dlq.`,
				`endpoints.a.subjects[2]: filter "a.b*": wildcards stand alone`}},
		{"reserved header", "endpoints:\n  a:\n" + ok + "    headers: {webhook-id: x, \"bad name\": y}\n",
			[]string{`r.yaml:6:15: endpoints.a.headers.webhook-id: header "webhook-id" is set by the relay`,
				`endpoints.a.headers.bad name: header name "bad name" is not a token`}},
		{"bad name", "endpoints:\n  A!:\n" + ok, []string{`r.yaml:2:3: endpoints.A!: name "A!"`}},
		{"missing parts", "endpoints:\n  a:\n    timeout: 1s\n", []string{
			`r.yaml:2:3: endpoints.a.url: missing`, `r.yaml:2:3: endpoints.a.subjects: missing`}},
		{"no secrets", "endpoints:\n  a:\n    url: https://x/\n    subjects: [agents.>]\n", []string{`r.yaml:2:3: endpoints.a.secrets: missing`}},
		{"nothing", "ssrf: {}\n", []string{`r.yaml:1:1: endpoints: nothing to relay`}},
		{"twice", "endpoints:\n  a:\n" + ok + "  a:\n" + ok, []string{`r.yaml:6:3: endpoints.a: key appears twice`}},
		{"name clash", "endpoints:\n  cb-x:\n" + ok + "  tasks:\n" + ok + "callbacks:\n  destinations:\n    x:\n      url_prefix: https://y/\n      secrets: [" + secret1 + "]\n",
			[]string{`r.yaml:6:3: endpoints.tasks: its consumer name "relay-tasks" is the relay's task recorder`,
				`r.yaml:12:5: callbacks.destinations.x: its consumer name "relay-cb-x" is taken by endpoint "cb-x"`}},
		{"ranges", "endpoints:\n  a:\n" + ok + "    jitter: 1.5\n    concurrency: 0\n    schedule: []\n    rate_limit: {burst: 3}\n",
			[]string{`endpoints.a.jitter: invalid value "1.5"`, `endpoints.a.concurrency: invalid value "0"`,
				`endpoints.a.schedule: an empty list`, `endpoints.a.rate_limit: burst without per_second`}},
		{"prefix", "callbacks:\n  destinations:\n    x:\n      url_prefix: https://y/a/../b?q=1\n      secrets: [" + secret1 + "]\n",
			[]string{`callbacks.destinations.x.url_prefix: "https://y/a/../b?…": a prefix has no query`}},
		{"two documents", "endpoints: {}\n---\nx: 1\n", []string{`r.yaml:2:1: a second YAML document`}},
		{"syntax", "endpoints:\n  a: [\n", []string{`r.yaml:`}},
		{"merge keys", "x: &x {timeout: 1s}\nendpoints:\n  a:\n    <<: *x\n" + ok, []string{`r.yaml:4:5: endpoints.a: keys are plain names`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := relay.Parse("r.yaml", []byte(tc.yml), envOf(nil))
			if !errors.Is(err, relay.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			var e *relay.Error
			if !errors.As(err, &e) {
				t.Fatalf("no *Error in %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestErrorsKeepSecretsOut: neither a malformed secret nor a header value appears in an
// error.
func TestErrorsKeepSecretsOut(t *testing.T) {
	short := newSecret("sh", 16)
	yml := "endpoints:\n  a:\n    url: https://x/\n    subjects: [agents.>]\n    secrets: [\"${S}\", \"hunter2-not-whsec\"]\n" +
		"    headers: {Authorization: \"Bearer ${TOKEN}\\x01\"}\n"
	_, err := relay.Parse("r.yaml", []byte(yml), envOf(map[string]string{"S": short, "TOKEN": "tok-secret"}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, s := range []string{short, strings.TrimPrefix(short, "whsec_"), "hunter2", "tok-secret"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error quotes %q:\n%v", s, err)
		}
	}
	for _, w := range []string{"r.yaml:5:15: endpoints.a.secrets[0]: relay: invalid signing secret: the key is 16 bytes",
		"endpoints.a.secrets[1]: relay: invalid signing secret: want whsec_", `header "Authorization" has a control byte`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestValidateFillsDefaults(t *testing.T) {
	cfg := relay.Config{Endpoints: []relay.Endpoint{{
		Name: "x", URL: "https://x.example.com/", Subjects: []string{"agents.>"},
		Delivery: relay.Delivery{Secrets: []relay.Secret{mustSecret(t, secret1)}},
	}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := cfg.Endpoints[0].Delivery
	if d.Timeout != relay.DefaultTimeout || d.Concurrency != relay.DefaultConcurrency || len(d.Schedule) != 7 || d.MaxHold != relay.DefaultMaxHold {
		t.Errorf("%+v", d)
	}
	bad := relay.Config{Endpoints: []relay.Endpoint{{Name: "x", URL: "http://[::1]:80/", Subjects: []string{"x.>"}}}}
	err := bad.Validate()
	for _, w := range []string{"endpoints.x.url: relay: destination address refused: ::1 is loopback", "endpoints.x.subjects[0]", "endpoints.x.secrets"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate: %v; want %q", err, w)
		}
	}
}
