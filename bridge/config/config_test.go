package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// envOf is an environment holding exactly m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// parse parses text under the name "t.yaml" with env.
func parse(t *testing.T, text string, env map[string]string) (*Config, error) {
	t.Helper()
	return Parse("t.yaml", []byte(text), envOf(env))
}

// mustParse parses text and fails the test on any error; the result passes Validate.
func mustParse(t *testing.T, text string, env map[string]string) *Config {
	t.Helper()
	cfg, err := parse(t, text, env)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate of a parsed config: %v", err)
	}
	return cfg
}

const shipped = "../../configs/hookbus.yaml"

func TestShippedDefault(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		disabled string // github's reason
		demo     string // demo's secret
	}{
		{"empty environment", nil, "GITHUB_WEBHOOK_SECRET is not set", "dev-only-secret"},
		{"empty variable", map[string]string{"GITHUB_WEBHOOK_SECRET": ""}, "GITHUB_WEBHOOK_SECRET is empty", "dev-only-secret"},
		{"secrets set", map[string]string{"GITHUB_WEBHOOK_SECRET": "gh-secret", "DEMO_WEBHOOK_SECRET": "demo-secret"}, "", "demo-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(shipped, envOf(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if cfg.Path != shipped || len(cfg.Sources) != 2 || cfg.Sources[0].Name != "github" || cfg.Sources[1].Name != "demo" {
				t.Fatalf("sources %v, path %q", cfg.Sources, cfg.Path)
			}
			gh, demo := cfg.Source("github"), cfg.Source("demo")
			if gh.Disabled != tt.disabled || (gh.Verifier == nil) != (tt.disabled != "") {
				t.Errorf("github: disabled %q, verifier %v; want disabled %q", gh.Disabled, gh.Verifier, tt.disabled)
			}
			if tt.disabled == "" && (len(gh.Options.Secrets) != 1 || gh.Options.Secrets[0] != "gh-secret") {
				t.Errorf("github secrets not from the environment")
			}
			if demo.Disabled != "" || demo.Verifier == nil || demo.Verifier.Scheme() != "hmac-sha256" ||
				len(demo.Options.Secrets) != 1 || demo.Options.Secrets[0] != tt.demo {
				t.Errorf("demo: %v, want enabled with its secret from the environment or the fallback", demo)
			}
			if demo.Options.Header != "X-Signature" || demo.Options.Prefix != "sha256=" || demo.Options.Encoding != "hex" {
				t.Errorf("demo options %+v", demo.Options.Header)
			}
		})
	}
}

// TestShippedDefaultIsTheDefaults: every value the shipped file writes is the default,
// so a config leaving a section out gets the same.
func TestShippedDefaultIsTheDefaults(t *testing.T) {
	cfg, err := Load(shipped, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	min := mustParse(t, "nats:\n  embedded:\nsources:\n  a:\n    verify: none\n", nil)
	want := Config{
		Log:         Log{Level: "info", Format: "auto"},
		HTTP:        HTTP{Listen: "127.0.0.1:8080", ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, ShutdownTimeout: 30 * time.Second, MaxBody: 1 << 20},
		Admin:       Admin{Listen: "127.0.0.1:8081"},
		NATS:        NATS{PublishTimeout: 5 * time.Second},
		Streams:     Streams{Replicas: 1, DuplicateWindow: 2 * time.Minute, WebhookWindow: 5 * time.Second, DedupeHorizon: 72 * time.Hour},
		MemoryLimit: 128 << 20,
	}
	wantEmbedded := Embedded{Listen: "127.0.0.1:4222", StoreDir: "./data", Sync: "default"}
	for name, c := range map[string]*Config{"shipped": cfg, "minimal": min} {
		if *c.NATS.Embedded != wantEmbedded {
			t.Errorf("%s: embedded %+v", name, *c.NATS.Embedded)
		}
		c.Path, c.Sources, c.NATS.Embedded = "", nil, nil
		if fmt.Sprintf("%+v", *c) != fmt.Sprintf("%+v", want) {
			t.Errorf("%s: %+v\nwant %+v", name, *c, want)
		}
	}
}

// TestShippedProduction: the production example loads once its secrets are set, keeps auth
// and fsync on, and refuses to start without them.
func TestShippedProduction(t *testing.T) {
	text, err := os.ReadFile("../../configs/production.yaml")
	if err != nil {
		t.Skip("no production config:", err)
	}
	secretFile := filepath.Join(t.TempDir(), "partner.secret")
	if err := os.WriteFile(secretFile, []byte("p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.ReplaceAll(string(text), "/etc/hookbus/partner.secret", secretFile))
	env := map[string]string{"GITHUB_WEBHOOK_SECRET": "g", "RELAY_NATS_PASSWORD": "r"}
	cfg, err := Parse("production.yaml", text, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if e := cfg.NATS.Embedded; !cfg.RequireSecrets || e == nil || e.Sync != "always" || e.Auth == nil {
		t.Fatalf("production settings: %+v", cfg)
	}
	delete(env, "GITHUB_WEBHOOK_SECRET")
	if _, err := Parse("production.yaml", text, envOf(env)); !errors.Is(err, ErrSecretUnset) {
		t.Fatalf("without GITHUB_WEBHOOK_SECRET: %v, want ErrSecretUnset", err)
	}
}

func TestValues(t *testing.T) {
	const tail = "sources: {a: {verify: none}}\n"
	tests := []struct {
		name, text string
		check      func(*Config) bool
	}{
		{"sizes", "nats: {embedded: {}}\nhttp: {max_body: 512}\nsources:\n  a: {verify: none, max_body: 2KiB}\n  b: {verify: none, max_body: 3 MB}\n  c: {verify: none}\n",
			func(c *Config) bool {
				return c.HTTP.MaxBody == 512 && c.Sources[0].MaxBody == 2048 && c.Sources[1].MaxBody == 3_000_000 && c.Sources[2].MaxBody == 512
			}},
		{"largest size", "nats: {embedded: {}}\nhttp: {max_body: 64MiB}\n" + tail,
			func(c *Config) bool { return c.HTTP.MaxBody == MaxBodyLimit }},
		{"memory limit", "nats: {embedded: {}}\nmemory_limit: 2GiB\n" + tail,
			func(c *Config) bool { return c.MemoryLimit == 2<<30 }},
		{"memory limit off", "nats: {embedded: {}}\nmemory_limit: 0\n" + tail,
			func(c *Config) bool { return c.MemoryLimit == 0 }},
		{"memory limit in MB", "nats: {embedded: {}}\nmemory_limit: 200 MB\n" + tail,
			func(c *Config) bool { return c.MemoryLimit == 200_000_000 }},
		{"url", "nats: {url: 'nats://h1:4222, tls://h2', creds: /c.creds}\nstreams: {replicas: 3}\n" + tail,
			func(c *Config) bool {
				return c.NATS.Embedded == nil && c.NATS.URL == "nats://h1:4222, tls://h2" && c.NATS.Creds == "/c.creds" && c.Streams.Replicas == 3
			}},
		{"admin off", "admin: {listen: ''}\nnats: {embedded: {}}\n" + tail,
			func(c *Config) bool { return c.Admin.Listen == "" }},
		{"random ports", "http: {listen: '127.0.0.1:0'}\nnats: {embedded: {listen: '127.0.0.1:-1'}}\n" + tail,
			func(c *Config) bool {
				return c.HTTP.Listen == "127.0.0.1:0" && c.NATS.Embedded.Listen == "127.0.0.1:-1"
			}},
		{"zero timeouts", "http: {read_timeout: 0s, idle_timeout: 0s}\nstreams: {max_age: 0s, dedupe_horizon: 0s}\nnats: {embedded: {}}\n" + tail,
			func(c *Config) bool {
				return c.HTTP.ReadTimeout == 0 && c.HTTP.IdleTimeout == 0 && c.Streams.DedupeHorizon == 0
			}},
		{"source settings", "nats: {embedded: {}}\nstreams: {dedupe_horizon: 1h}\nsources:\n  a:\n    verify: none\n    id_header: X-Id\n    rate_limit: {per_second: 0.5, burst: 3}\n  b: {verify: none, dedupe_horizon: 0s}\n",
			func(c *Config) bool {
				a, b := c.Sources[0], c.Sources[1]
				return a.DedupeHorizon == time.Hour && b.DedupeHorizon == 0 && a.Rate == (RateLimit{0.5, 3}) && a.Options.IDHeader == "X-Id"
			}},
		{"sources before require_secrets", "sources:\n  gh: {verify: github, secrets: ['${X}']}\nrequire_secrets: false\nnats: {embedded: {}}\n",
			func(c *Config) bool { return c.Source("gh").Disabled == "X is not set" }},
		{"anchors and merge keys", "nats: {embedded: {}}\nsources:\n  a: &a {verify: hmac-sha256, header: X-Sig, secrets: [s]}\n  b:\n    <<: *a\n    header: X-Other\n  c: *a\n",
			func(c *Config) bool {
				return len(c.Sources) == 3 && c.Sources[1].Options.Header == "X-Other" && c.Sources[1].Verify == "hmac-sha256" &&
					c.Sources[2].Options.Header == "X-Sig" && c.Sources[2].Verifier != nil
			}},
		{"auth", "nats:\n  embedded:\n    store_dir: /var/lib/hookbus\n    auth:\n      agents:\n        triage: {}\n        notify: {password: '${NP}'}\n" + tail,
			func(c *Config) bool {
				a := c.NATS.Embedded.Auth
				return a != nil && a.CredentialsDir == "/var/lib/hookbus/credentials" && len(a.Agents) == 2 &&
					a.Agents[0] == (AgentLogin{Name: "triage"}) && a.Agents[1] == (AgentLogin{Name: "notify", Password: "pw"})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.text, map[string]string{"NP": "pw"})
			if !tt.check(cfg) {
				t.Fatalf("unexpected config: %+v %v", *cfg, cfg.Sources)
			}
		})
	}
}

// TestNoSecretInOutput: printing or marshalling a config shows no secret.
func TestNoSecretInOutput(t *testing.T) {
	text := "nats:\n  embedded:\n    auth: {agents: {triage: {password: '${PW}'}}}\nsources:\n  gh: {verify: github, secrets: ['${S}']}\n"
	cfg := mustParse(t, text, map[string]string{"S": "MARKER-source", "PW": "MARKER-password"})
	src := cfg.Source("gh")
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		fmt.Sprint(src), fmt.Sprintf("%+v", src), fmt.Sprintf("%#v", src), fmt.Sprintf("%+v", *src), fmt.Sprintf("%v", cfg.Sources),
		fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%+v", *cfg.NATS.Embedded.Auth), string(js),
	} {
		if strings.Contains(out, "MARKER") {
			t.Errorf("a secret shows in %s", out)
		}
	}
	if got := src.String(); got != "gh (verify github)" {
		t.Errorf("String = %q", got)
	}
	if got := (Source{Name: "gh", Verify: "github", Disabled: "S is not set"}).String(); got != "gh (verify github, disabled: S is not set)" {
		t.Errorf("String = %q", got)
	}
}

func TestValidate(t *testing.T) {
	good := func() *Config {
		return mustParse(t, "nats: {embedded: {}}\nsources: {a: {verify: none}}\n", nil)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"zero config", func(c *Config) { *c = Config{} }, "log.level: invalid value \"\""},
		{"no nats", func(c *Config) { c.NATS.Embedded = nil }, "nats: set embedded"},
		{"both nats", func(c *Config) { c.NATS.URL = "nats://x:4222" }, "nats: set either embedded or url"},
		{"bad url", func(c *Config) { c.NATS.Embedded, c.NATS.URL = nil, "http://u:MARKER@x" }, `nats.url: invalid server URL "http://u:xxxxx@x"`},
		{"replicas with embedded", func(c *Config) { c.Streams.Replicas = 3 }, "streams.replicas: the embedded server is a single node"},
		{"window over max age", func(c *Config) { c.Streams.MaxAge = time.Minute }, `streams.duplicate_window: "2m0s" must not exceed streams.max_age (1m0s)`},
		{"publish timeout", func(c *Config) { c.NATS.PublishTimeout = 0 }, `nats.publish_timeout: "0s" must be more than 0`},
		{"no sources", func(c *Config) { c.Sources = nil }, "sources: at least one source is required"},
		{"nil source", func(c *Config) { c.Sources = []*Source{nil} }, "sources[0]: nil source"},
		{"twice", func(c *Config) { c.Sources = append(c.Sources, c.Sources[0]) }, "sources.a: source appears twice"},
		{"bad name", func(c *Config) { c.Sources[0].Name = "A.b" }, `sources[0]: invalid source name "A.b"`},
		{"memory limit", func(c *Config) { c.MemoryLimit = 1 << 20 }, `memory_limit: "1048576" is out of range (0 for none, or 32MiB to 1024GiB)`},
		{"no verifier", func(c *Config) { c.Sources[0].Verifier = nil }, "sources.a: enabled without a verifier"},
		{"max body", func(c *Config) { c.Sources[0].MaxBody = 0 }, `sources.a.max_body: "0" is out of range`},
		{"rate", func(c *Config) { c.HTTP.ClientRate.PerSecond = -1 }, `http.client_rate_limit.per_second: invalid rate "-1"`},
		{"reserved agent", func(c *Config) {
			c.NATS.Embedded.Auth = &Auth{CredentialsDir: "x", Agents: []AgentLogin{{Name: "hookbus"}}}
		}, `nats.embedded.auth.agents[0]: agent name "hookbus" is reserved`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "MARKER") {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
	var zero Config
	if zero.Source("x") != nil {
		t.Fatal("Source on a zero Config")
	}
}
