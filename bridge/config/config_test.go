package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestShippedDefaultConfig(t *testing.T) {
	cfg, err := Load("../../configs/hookbus.yaml", envOf(nil))
	if err != nil {
		t.Fatalf("default config with an empty environment: %v", err)
	}
	gh, demo := cfg.Source("github"), cfg.Source("demo")
	if gh == nil || gh.Disabled != "GITHUB_WEBHOOK_SECRET is not set" || gh.Verifier != nil {
		t.Fatalf("github source: %+v", gh)
	}
	if demo == nil || demo.Disabled != "" || demo.Verifier == nil || demo.Options.Secrets[0] != "dev-only-secret" {
		t.Fatalf("demo source enabled with the dev secret: %+v", demo)
	}
	e := cfg.NATS.Embedded
	if e == nil || e.Listen != "127.0.0.1:4222" || e.StoreDir != "./data" || e.Sync != "default" {
		t.Fatalf("embedded: %+v", e)
	}
	if cfg.HTTP.Listen != "127.0.0.1:8080" || cfg.Admin.Listen != "127.0.0.1:8081" || cfg.HTTP.MaxBody != 1<<20 ||
		cfg.Streams.DuplicateWindow != 2*time.Minute || cfg.NATS.PublishTimeout != 5*time.Second {
		t.Fatalf("defaults: %+v", cfg)
	}

	cfg, err = Load("../../configs/hookbus.yaml", envOf(map[string]string{"GITHUB_WEBHOOK_SECRET": "s3cret", "DEMO_WEBHOOK_SECRET": "d"}))
	if err != nil {
		t.Fatal(err)
	}
	if gh := cfg.Source("github"); gh.Disabled != "" || gh.Verifier == nil || gh.Options.Secrets[0] != "s3cret" {
		t.Fatalf("github with its secret: %+v", gh)
	}
	if d := cfg.Source("demo"); d.Options.Secrets[0] != "d" {
		t.Fatalf("demo secret from env not used")
	}
}

func TestMinimalDefaults(t *testing.T) {
	cfg, err := Parse("m.yaml", []byte("nats:\n  embedded: {}\nsources:\n  open:\n    verify: none\n"), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.Embedded.Listen != DefaultNATSListen || cfg.NATS.Embedded.StoreDir != DefaultStoreDir || cfg.Sources[0].MaxBody != DefaultMaxBody {
		t.Fatalf("defaults not applied: %+v %+v", cfg.NATS.Embedded, cfg.Sources[0])
	}
}

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"A": "x", "EMPTY": "", "Q": `": {`})
	tests := []struct {
		in, out string
		unset   []string
		err     bool
	}{
		{"plain", "plain", nil, false},
		{"${A}", "x", nil, false},
		{"pre-${A}-post", "pre-x-post", nil, false},
		{"${B:-dflt}", "dflt", nil, false},
		{"${EMPTY:-dflt}", "dflt", nil, false},
		{"${EMPTY}", "", nil, false},
		{"${B}", "", []string{"B"}, false},
		{"$$A $${A}", "$A ${A}", nil, false},
		{"cost $5", "cost $5", nil, false},
		{"${A", "", nil, true},
		{"${1A}", "", nil, true},
		{"${}", "", nil, true},
		{"${Q}", `": {`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			out, unset, err := expand(tt.in, env)
			if (err != nil) != tt.err || out != tt.out || strings.Join(unset, ",") != strings.Join(tt.unset, ",") {
				t.Fatalf("expand(%q) = %q, %v, %v", tt.in, out, unset, err)
			}
		})
	}
}

// TestSecretCannotChangeStructure: a secret full of YAML syntax stays one value.
func TestSecretCannotChangeStructure(t *testing.T) {
	text := "nats:\n  embedded: {}\nsources:\n  demo:\n    verify: hmac-sha256\n    header: X-Sig\n    secrets: [\"${S}\"]\n"
	tricky := "a\", \"b\"]\n  evil:\n    verify: none #"
	cfg, err := Parse("t.yaml", []byte(text), envOf(map[string]string{"S": tricky}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sources) != 1 || len(cfg.Sources[0].Options.Secrets) != 1 || cfg.Sources[0].Options.Secrets[0] != tricky {
		t.Fatalf("structure changed: %d sources, secrets %d", len(cfg.Sources), len(cfg.Sources[0].Options.Secrets))
	}
}

// TestErrorsGolden checks every error class of a broken config, with file, line, column and
// key, against a golden file, and that no secret appears in the text.
func TestErrorsGolden(t *testing.T) {
	_, err := Load("testdata/broken.yaml", envOf(nil))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Load = %v, want ErrInvalid", err)
	}
	got := err.Error() + "\n"
	for i := 1; i <= 4; i++ {
		if strings.Contains(got, "not-shown-") {
			t.Fatalf("an error shows a secret:\n%s", got)
		}
	}
	golden := filepath.Join("testdata", "broken.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("errors differ from %s (run with -update after checking):\n%s", golden, got)
	}
}

func TestErrorCases(t *testing.T) {
	base := "nats:\n  embedded: {}\n"
	tests := []struct {
		name, text, want string
	}{
		{"unknown top key", base + "sources: {a: {verify: none}}\nfoo: 1\n", `t.yaml:4:1: unknown key "foo" in the top level`},
		{"no nats", "sources: {a: {verify: none}}\n", `t.yaml:1:1: nats: set embedded`},
		{"both nats", "nats:\n  embedded: {}\n  url: nats://x:4222\nsources: {a: {verify: none}}\n", "t.yaml:2:3: nats: set either embedded or url"},
		{"no sources", base, "t.yaml:1:1: sources: at least one source is required"},
		{"empty sources", base + "sources: {}\n", "t.yaml:3:10: sources: want a mapping"},
		{"hmac without header", base + "sources:\n  d:\n    verify: hmac-sha256\n    secrets: [x]\n", `t.yaml:4:3: sources.d.header: invalid value: required for scheme "hmac-sha256"`},
		{"empty literal secret", base + "sources:\n  d:\n    verify: github\n    secrets: [\"\"]\n", "t.yaml:6:15: sources.d.secrets[0]: secret is empty"},
		{"bad expansion", base + "sources:\n  d:\n    verify: github\n    secrets: [\"${X\"]\n", "t.yaml:6:15: sources.d.secrets[0]: malformed"},
		{"duplicate key", base + "sources: {a: {verify: none}}\nlog: {level: info, level: debug}\n", "t.yaml:4:20: log.level: key appears twice"},
		{"not yaml", "a: [", "t.yaml: "},
		{"scalar root", "hello", "t.yaml:1:1: want a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.text), envOf(nil))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRequireSecrets(t *testing.T) {
	text := "require_secrets: true\nnats:\n  embedded: {}\nsources:\n  gh:\n    verify: github\n    secrets: [\"${GH_SECRET}\"]\n"
	_, err := Parse("r.yaml", []byte(text), envOf(nil))
	if !errors.Is(err, ErrSecretUnset) || !strings.Contains(err.Error(), "r.yaml:7:14: sources.gh.secrets: GH_SECRET is not set") {
		t.Fatalf("Parse = %v", err)
	}
	cfg, err := Parse("r.yaml", []byte(text), envOf(map[string]string{"GH_SECRET": "x"}))
	if err != nil || cfg.Source("gh").Verifier == nil {
		t.Fatalf("with the secret set: %v", err)
	}
	// Rotation with one variable unset still runs on the other.
	text2 := "nats:\n  embedded: {}\nsources:\n  gh:\n    verify: github\n    secrets: [\"${NEW}\", \"${OLD}\"]\n"
	cfg, err = Parse("r.yaml", []byte(text2), envOf(map[string]string{"OLD": "o"}))
	if err != nil || cfg.Source("gh").Disabled != "" || len(cfg.Source("gh").Options.Secrets) != 1 {
		t.Fatalf("partial rotation: %v %+v", err, cfg.Source("gh"))
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "gh.secret")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := "nats:\n  embedded: {}\nsources:\n  gh:\n    verify: github\n    secret_files: [\"" + f + "\"]\n"
	cfg, err := Parse("f.yaml", []byte(text), envOf(nil))
	if err != nil || cfg.Source("gh").Options.Secrets[0] != "from-file" {
		t.Fatalf("secret file: %v", err)
	}
	missing := strings.Replace(text, f, filepath.Join(dir, "nope"), 1)
	if _, err := Parse("f.yaml", []byte(missing), envOf(nil)); err == nil || !strings.Contains(err.Error(), "f.yaml:6:20: sources.gh.secret_files[0]: cannot read secret file") {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"nats:\n  embedded: {}\nsources:\n  a:\n    verify: none\n",
		"sources: {a: {verify: github, secrets: [\"${X:-y}\"]}}\nnats: {url: nats://x:1}",
		"http: {max_body: 1KiB, listen: ':1'}",
		"- a\n- b",
		"a: &x [*x]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, envOf(map[string]string{"X": "v"}))
		if err == nil && (len(cfg.Sources) == 0 || (cfg.NATS.Embedded == nil) == (cfg.NATS.URL == "")) {
			t.Fatalf("accepted an incomplete config: %q", data)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error does not wrap ErrInvalid: %v", err)
		}
	})
}

func TestAuth(t *testing.T) {
	text := "nats:\n  embedded:\n    auth:\n      agents:\n        triage: {}\n        notify: {password: \"${NP}\"}\n    store_dir: /var/lib/hookbus\nsources: {a: {verify: none}}\n"
	cfg, err := Parse("a.yaml", []byte(text), envOf(map[string]string{"NP": "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.NATS.Embedded.Auth
	if a == nil || a.CredentialsDir != "/var/lib/hookbus/credentials" || len(a.Agents) != 2 ||
		a.Agents[0] != (AgentLogin{Name: "triage"}) || a.Agents[1] != (AgentLogin{Name: "notify", Password: "pw"}) {
		t.Fatalf("auth %+v", a)
	}
	if _, err := Parse("a.yaml", []byte(text), envOf(nil)); err == nil || !strings.Contains(err.Error(), "a.yaml:6:28: nats.embedded.auth.agents.notify.password: NP is not set") {
		t.Fatalf("unset password variable: %v", err)
	}
	bad := strings.Replace(text, "triage: {}", "hookbus: {}", 1)
	if _, err := Parse("a.yaml", []byte(bad), envOf(map[string]string{"NP": "pw"})); err == nil || !strings.Contains(err.Error(), `invalid agent name "hookbus"`) {
		t.Fatalf("reserved name: %v", err)
	}
}

// TestShippedProductionConfig: the production example loads once its secrets are set, keeps
// auth and fsync on, and refuses to start without them.
func TestShippedProductionConfig(t *testing.T) {
	dir := t.TempDir()
	text, err := os.ReadFile("../../configs/production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "partner.secret")
	os.WriteFile(secretFile, []byte("p\n"), 0o600)
	text = []byte(strings.ReplaceAll(string(text), "/etc/hookbus/partner.secret", secretFile))
	env := map[string]string{"GITHUB_WEBHOOK_SECRET": "g", "RELAY_NATS_PASSWORD": "r"}
	cfg, err := Parse("production.yaml", text, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.NATS.Embedded
	if !cfg.RequireSecrets || e.Sync != "always" || e.Auth == nil || len(e.Auth.Agents) != 3 || cfg.Admin.Listen != "127.0.0.1:8081" {
		t.Fatalf("production settings: %+v %+v", cfg, e)
	}
	delete(env, "GITHUB_WEBHOOK_SECRET")
	if _, err := Parse("production.yaml", text, envOf(env)); !errors.Is(err, ErrSecretUnset) {
		t.Fatalf("without GITHUB_WEBHOOK_SECRET: %v", err)
	}
}
