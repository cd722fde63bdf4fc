package config

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookbus/hookbus/bridge/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// secretMarkers matches the secret values of the test configs, which no error may show.
var secretMarkers = regexp.MustCompile(`not-shown|MARKER`)

// checkNoSecret fails the test if err shows a secret.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && secretMarkers.MatchString(err.Error()) {
		t.Fatalf("an error shows a secret:\n%v", err)
	}
}

// TestErrorsGolden loads a config with one of every kind of mistake and compares the joined
// errors, file:line:column and key each, with testdata/broken.golden. The list of verify
// schemes, which grows with the verify package, reads {schemes} there.
func TestErrorsGolden(t *testing.T) {
	_, err := Load("testdata/broken.yaml", envOf(map[string]string{"NOT_SHOWN_6": "x"}))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Load = %v, want ErrInvalid", err)
	}
	checkNoSecret(t, err)
	got := strings.ReplaceAll(err.Error(), strings.Join(verify.Schemes(), ", "), "{schemes}") + "\n"
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
		t.Fatalf("errors differ from %s (go test -update rewrites it; check the diff):\n%s", golden, got)
	}
}

func TestErrorCases(t *testing.T) {
	const (
		emb = "nats:\n  embedded: {}\n"
		src = "sources: {a: {verify: none}}\n"
	)
	tests := []struct {
		name, text string
		env        map[string]string
		want       string // the whole error text
		is         error  // matched with errors.Is besides ErrInvalid
	}{
		{"memory limit too small", emb + src + "memory_limit: 16MiB\n", nil,
			`t.yaml:4:15: memory_limit: "16MiB" is out of range (0 for none, or 32MiB to 1024GiB)`, nil},
		{"memory limit unit", emb + src + "memory_limit: 1TB\n", nil,
			`t.yaml:4:15: memory_limit: invalid size "1TB" (0, bytes, or a number with KiB, MiB, GiB, KB, MB or GB)`, nil},
		{"unknown top-level key", emb + src + "foo: 1\n", nil,
			`t.yaml:4:1: unknown key "foo" in the top level (known: admin, http, log, memory_limit, nats, require_secrets, sources, streams)`, nil},
		{"unknown key in a section", emb + src + "http:\n  listen: ':1'\n  lisen: ':2'\n", nil,
			`t.yaml:6:3: unknown key "lisen" in http (known: client_rate_limit, idle_timeout, listen, max_body, read_timeout, shutdown_timeout, write_timeout)`, nil},
		{"unknown key in a source", emb + "sources:\n  a:\n    verify: none\n    secret: [x]\n", nil,
			`t.yaml:6:5: unknown key "secret" in sources.a (known: algorithm, allow_legacy, allow_sha1, dedupe_horizon, encoding, event, event_header, header, id_header, max_body, prefix, public_key, public_url, rate_limit, secret_files, secrets, signed_content, timestamp_header, tolerance, verify)`, nil},
		{"invalid duration", emb + src + "http:\n  read_timeout: 10x\n", nil,
			`t.yaml:5:17: http.read_timeout: invalid duration "10x" (e.g. 500ms, 10s, 2m, 72h)`, nil},
		{"number for a duration", emb + src + "http:\n  idle_timeout: 10\n", nil,
			`t.yaml:5:17: http.idle_timeout: invalid duration "10" (e.g. 500ms, 10s, 2m, 72h)`, nil},
		{"negative duration", emb + src + "streams:\n  max_age: -1h\n", nil,
			`t.yaml:5:12: streams.max_age: "-1h" must not be negative`, nil},
		{"list for a value", emb + src + "log:\n  level: [info]\n", nil,
			`t.yaml:5:10: log.level: want a single value, not a list`, nil},
		{"value for a section", emb + src + "http: 8080\n", nil,
			`t.yaml:4:7: http: want a mapping of keys, not a single value`, nil},
		{"size overflow", emb + src + "http:\n  max_body: 17592186044417MiB\n", nil,
			`t.yaml:5:13: http.max_body: "17592186044417MiB" is out of range (1 byte to 64MiB)`, nil},
		{"zero size", emb + src + "http:\n  max_body: 0\n", nil,
			`t.yaml:5:13: http.max_body: "0" is out of range (1 byte to 64MiB)`, nil},
		{"port out of range", emb + src + "http:\n  listen: '127.0.0.1:65536'\n", nil,
			`t.yaml:5:11: http.listen: invalid address "127.0.0.1:65536" (want host:port, e.g. 127.0.0.1:8080)`, nil},
		{"no port", emb + src + "admin:\n  listen: localhost\n", nil,
			`t.yaml:5:11: admin.listen: invalid address "localhost" (want host:port, e.g. 127.0.0.1:8080)`, nil},
		{"boolean", emb + src + "require_secrets: yes\n", nil,
			`t.yaml:4:18: require_secrets: invalid value "yes" (want true or false)`, nil},
		{"rate", emb + src + "http:\n  client_rate_limit: {per_second: NaN}\n", nil,
			`t.yaml:5:35: http.client_rate_limit.per_second: invalid rate "NaN" (want requests per second from 0 to 1e9, e.g. 50 or 0.5)`, nil},
		{"duplicate key", emb + src + "log: {level: info, level: debug}\n", nil,
			`t.yaml:4:20: log.level: key appears twice`, nil},
		{"unset variable in a value", emb + src + "http:\n  listen: '${HOST}:8080'\n", nil,
			`t.yaml:5:11: http.listen: HOST is not set (write ${HOST:-default} for a fallback)`, nil},
		{"empty default in a value", emb + src + "http:\n  listen: '${HOST:-}:8080'\n", nil,
			``, nil},
		{"unterminated expansion", "nats:\n  embedded:\n    store_dir: ${DIR\n" + src, nil,
			`t.yaml:3:16: nats.embedded.store_dir: unterminated ${ (want ${NAME} or ${NAME:-default})`, nil},
		{"bad variable name", "nats:\n  embedded:\n    store_dir: ${1DIR}\n" + src, nil,
			`t.yaml:3:16: nats.embedded.store_dir: invalid variable name in ${…} (want letters, digits and _, not starting with a digit)`, nil},
		{"no nats", src, nil,
			`t.yaml:1:1: nats: set embedded (run NATS inside hookbus) or url (an existing NATS)`, nil},
		{"empty nats", "nats:\n  publish_timeout: 1s\n" + src, nil,
			`t.yaml:2:3: nats: set embedded (run NATS inside hookbus) or url (an existing NATS)`, nil},
		{"both nats", "nats:\n  embedded: {}\n  url: nats://x:4222\n" + src, nil,
			`t.yaml:3:8: nats.url: set either embedded or url, not both`, nil},
		{"bad nats url", "nats:\n  url: 'nats://h1:4222,http://user:MARKER@h2'\n" + src, nil,
			`t.yaml:2:8: nats.url: invalid server URL "http://user:xxxxx@h2" (want nats://host:port; tls://, ws://, wss:// also work)`, nil},
		{"empty server in nats url", "nats:\n  url: 'nats://h1:4222,'\n" + src, nil,
			`t.yaml:2:8: nats.url: server 2 of the list is empty`, nil},
		{"creds with embedded", emb + "  creds: x.creds\n" + src, nil,
			`t.yaml:3:10: nats.creds: only used with nats.url, not with nats.embedded`, nil},
		{"replicas with embedded", emb + src + "streams: {replicas: 3}\n", nil,
			`t.yaml:4:21: streams.replicas: the embedded server is a single node: replicas must be 1 (use nats.url for a cluster)`, nil},
		{"replicas range", "nats: {url: 'nats://x'}\n" + src + "streams: {replicas: 0}\n", nil,
			`t.yaml:3:21: streams.replicas: invalid value "0" (want a whole number from 1 to 5)`, nil},
		{"publish timeout", emb + "  publish_timeout: 0s\n" + src, nil,
			`t.yaml:3:20: nats.publish_timeout: "0s" must be more than 0`, nil},
		{"window over max age", emb + src + "streams: {max_age: 1m, duplicate_window: 2m}\n", nil,
			`t.yaml:4:42: streams.duplicate_window: "2m0s" must not exceed streams.max_age (1m0s)`, nil},
		{"no sources", emb, nil,
			`t.yaml:1:1: sources: at least one source is required`, nil},
		{"empty sources", emb + "sources: {}\n", nil,
			`t.yaml:3:10: sources: want a mapping of at least one source name to its settings`, nil},
		{"source name", emb + "sources:\n  Git.Hub: {verify: none}\n", nil,
			`t.yaml:4:3: sources.Git.Hub: invalid source name "Git.Hub" (want lowercase letters, digits, _ and -, starting with a letter or digit, at most 64 bytes)`, nil},
		{"source names are not expanded", emb + "sources:\n  ${A}: {verify: none}\n", map[string]string{"A": "a"},
			`t.yaml:4:3: sources.${A}: invalid source name "${A}" (want lowercase letters, digits, _ and -, starting with a letter or digit, at most 64 bytes)`, nil},
		{"source without settings", emb + "sources:\n  a:\n", nil,
			`t.yaml:4:3: sources.a: want the source's settings (at least verify)`, nil},
		{"verify missing", emb + "sources:\n  a:\n    max_body: 1KiB\n", nil,
			`t.yaml:4:3: sources.a.verify: required: the signature scheme (github, hmac-sha256, …), or none to accept unsigned requests`, nil},
		{"unknown scheme", emb + "sources:\n  a:\n    verify: gitbub\n    secrets: [not-shown]\n", nil,
			`t.yaml:5:13: sources.a.verify: unknown scheme: "gitbub" (known: {schemes})`, verify.ErrUnknownScheme},
		{"hmac without header", emb + "sources:\n  a:\n    verify: hmac-sha256\n    secrets: [not-shown]\n", nil,
			`t.yaml:4:3: sources.a.header: invalid value: required for scheme "hmac-sha256"`, verify.ErrInvalidOption},
		{"bad encoding", emb + "sources:\n  a:\n    verify: hmac-sha256\n    header: X-Sig\n    encoding: hexx\n    secrets: [not-shown]\n", nil,
			`t.yaml:7:15: sources.a.encoding: invalid value: "hexx" (want hex or base64)`, verify.ErrInvalidOption},
		{"option of another scheme", emb + "sources:\n  a:\n    verify: github\n    header: X-Sig\n    secrets: [not-shown]\n", nil,
			`t.yaml:6:13: sources.a.header: invalid value: not used by scheme "github"`, verify.ErrInvalidOption},
		{"option checked while disabled", emb + "sources:\n  a:\n    verify: hmac-sha256\n    secrets: ['${UNSET}']\n", nil,
			`t.yaml:4:3: sources.a.header: invalid value: required for scheme "hmac-sha256"`, verify.ErrInvalidOption},
		{"no secrets", emb + "sources:\n  a:\n    verify: github\n", nil,
			`t.yaml:4:3: sources.a.secrets: required for verify "github": secrets: ["${NAME}"] or secret_files: [path] (or verify: none to accept unsigned requests)`, verify.ErrNoSecret},
		{"empty secret list", emb + "sources:\n  a:\n    verify: github\n    secrets: []\n", nil,
			`t.yaml:6:14: sources.a.secrets: required for verify "github": secrets: ["${NAME}"] or secret_files: [path] (or verify: none to accept unsigned requests)`, verify.ErrNoSecret},
		{"empty literal secret", emb + "sources:\n  a:\n    verify: github\n    secrets: [not-shown, '']\n", nil,
			`t.yaml:6:26: sources.a.secrets[1]: secret is empty`, nil},
		{"secret not a list", emb + "sources:\n  a:\n    verify: github\n    secrets: not-shown\n", nil,
			`t.yaml:6:14: sources.a.secrets: want a list of secrets, e.g. ["${GITHUB_WEBHOOK_SECRET}"], not a single value`, nil},
		{"malformed secret", emb + "sources:\n  a:\n    verify: github\n    secrets: ['not-shown${X']\n", nil,
			`t.yaml:6:15: sources.a.secrets[0]: unterminated ${ (want ${NAME} or ${NAME:-default})`, nil},
		{"malformed secret name", emb + "sources:\n  a:\n    verify: github\n    secrets: ['${not-shown}']\n", nil,
			`t.yaml:6:15: sources.a.secrets[0]: invalid variable name in ${…} (want letters, digits and _, not starting with a digit)`, nil},
		{"none with secrets", emb + "sources:\n  a:\n    verify: none\n    secrets: [not-shown]\n", nil,
			`t.yaml:6:14: sources.a.secrets: not used by verify "none", which accepts every request unchecked (remove them, or choose a scheme that checks them)`, nil},
		{"require_secrets", "require_secrets: true\n" + emb + "sources:\n  gh:\n    verify: github\n    secrets: [not-shown, '${GH_SECRET}']\n", nil,
			`t.yaml:7:26: sources.gh.secrets[1]: GH_SECRET is not set (require_secrets is true)`, ErrSecretUnset},
		{"require_secrets with empty variable", "require_secrets: true\n" + emb + "sources:\n  gh:\n    verify: github\n    secrets: ['${GH_SECRET}']\n", map[string]string{"GH_SECRET": ""},
			`t.yaml:7:15: sources.gh.secrets[0]: GH_SECRET is empty (require_secrets is true)`, ErrSecretUnset},
		{"unset agent password", "nats:\n  embedded:\n    auth: {agents: {triage: {password: '${PW}'}}}\n" + src, nil,
			`t.yaml:3:40: nats.embedded.auth.agents.triage.password: PW is not set (or leave password out to have one generated)`, nil},
		{"reserved agent", "nats:\n  embedded:\n    auth: {agents: {hookbus: {}}}\n" + src, nil,
			`t.yaml:3:21: nats.embedded.auth.agents.hookbus: agent name "hookbus" is reserved for hookbus itself`, nil},
		{"merge of a value", emb + "sources:\n  a:\n    <<: 1\n    verify: none\n", nil,
			`t.yaml:5:9: sources.a: a merge (<<) takes a mapping or a list of mappings, not a single value`, nil},
		{"merge of itself", emb + "sources:\n  a: &a {<<: *a, verify: none}\n", nil,
			`t.yaml:4:6: sources.a: a merge (<<) that includes itself`, nil},
		{"exponential merges", exponentialMerges(), nil,
			`t.yaml:7:12: sources.s12: merges (<<) copy more than 10000 keys: too many, or nested too deep`, nil},
		{"syntax error", "nats: [\n", nil,
			`t.yaml:1: did not find expected node content`, nil},
		{"syntax error without a line", "a: \"\\q\"\n", nil,
			`t.yaml: found unknown escape character`, nil},
		{"two documents", emb + src + "---\nlog: {}\n", nil,
			`t.yaml:4:1: a second YAML document: a config is one document`, nil},
		{"not a mapping", "- a\n- b\n", nil,
			`t.yaml:1:1: want a mapping of keys, not a list`, nil},
	}
	schemes := strings.Join(verify.Schemes(), ", ")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.text, tt.env)
			checkNoSecret(t, err)
			want := strings.ReplaceAll(tt.want, "{schemes}", schemes)
			if want == "" {
				if err != nil {
					t.Fatalf("Parse = %v, want no error", err)
				}
				if err := cfg.Validate(); err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || err.Error() != want {
				t.Fatalf("Parse =\n%v\nwant\n%s", err, want)
			}
			var e *Error
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) || tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Parse = %#v, want an *Error wrapping ErrInvalid and %v", err, tt.is)
			}
		})
	}
}

// exponentialMerges is a config whose merges would copy 2^30 keys.
func exponentialMerges() string {
	var b strings.Builder
	b.WriteString("nats: {embedded: {}}\nsources:\n  s0: &a0 {verify: none}\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "  s%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	return b.String()
}

// TestErrorOrder: problems come in document order, even those found after the walk (the
// NATS choice, sources, which are read last).
func TestErrorOrder(t *testing.T) {
	text := "sources:\n  a: {verify: nope}\nnats:\n  embedded: {}\n  url: nats://x\nlog: {level: loud}\n"
	_, err := parse(t, text, nil)
	lines := strings.Split(err.Error(), "\n")
	want := []string{"t.yaml:2:", "t.yaml:5:", "t.yaml:6:"}
	if len(lines) != len(want) {
		t.Fatalf("errors:\n%v", err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Fatalf("error %d is %q, want it at %s", i, lines[i], w)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"), nil)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Fatalf("Load = %v, want fs.ErrNotExist", err)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 1, Column: 2, Key: "k", Msg: "m"}, "f:1:2: k: m"},
		{Error{File: "f", Line: 1, Msg: "m"}, "f:1: m"},
		{Error{File: "f", Msg: "m"}, "f: m"},
		{Error{Key: "k", Msg: "m"}, "k: m"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.e.Error(); got != tt.want {
				t.Fatalf("Error() = %q", got)
			}
		})
	}
}
