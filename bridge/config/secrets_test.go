package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	const head = "nats:\n  embedded: {}\nsources:\n  gh:\n    verify: github\n"
	tests := []struct {
		name     string
		secrets  string // the secrets line(s) of source gh
		env      map[string]string
		disabled string
		want     []string // secrets of an enabled source
	}{
		{"from the environment", `    secrets: ["${A}"]`, map[string]string{"A": "a"}, "", []string{"a"}},
		{"default", `    secrets: ["${A:-fallback}"]`, nil, "", []string{"fallback"}},
		{"literal with dollars", `    secrets: ["pa$$word"]`, nil, "", []string{"pa$word"}},
		{"rotation", `    secrets: ["${NEW}", "${OLD}"]`, map[string]string{"NEW": "n", "OLD": "o"}, "", []string{"n", "o"}},
		{"unset", `    secrets: ["${A}"]`, nil, "A is not set", nil},
		{"empty", `    secrets: ["${A}"]`, map[string]string{"A": ""}, "A is empty", nil},
		{"one of two unset", `    secrets: ["${NEW}", "${OLD}"]`, map[string]string{"OLD": "o"}, "NEW is not set", nil},
		{"both unset", `    secrets: ["${NEW}", "${OLD}"]`, nil, "NEW and OLD are not set", nil},
		{"partly expanded", `    secrets: ["prefix-${A}"]`, nil, "A is not set", nil},
		{"unset and empty", `    secrets: ["${A}${B}"]`, map[string]string{"B": ""}, "A is not set; B is empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, head+tt.secrets+"\n", tt.env)
			s := cfg.Source("gh")
			if s.Disabled != tt.disabled || (s.Verifier == nil) != (tt.disabled != "") {
				t.Fatalf("disabled %q (verifier %v), want %q", s.Disabled, s.Verifier, tt.disabled)
			}
			if tt.disabled == "" && strings.Join(s.Options.Secrets, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("secrets differ")
			}
			// With require_secrets the same config refuses to load, naming the variable.
			_, err := parse(t, "require_secrets: true\n"+head+tt.secrets+"\n", tt.env)
			if tt.disabled == "" && err != nil {
				t.Fatalf("require_secrets: %v", err)
			}
			if tt.disabled != "" && (!errors.Is(err, ErrSecretUnset) || !strings.Contains(err.Error(), "sources.gh.secrets[")) {
				t.Fatalf("require_secrets: %v, want ErrSecretUnset", err)
			}
		})
	}
}

func TestPublicKeyFromUnsetVariable(t *testing.T) {
	text := "nats:\n  embedded: {}\nsources:\n  d:\n    verify: discord\n    public_key: ${DISCORD_PUBLIC_KEY}\n"
	cfg := mustParse(t, text, nil)
	if d := cfg.Source("d"); d.Disabled != "DISCORD_PUBLIC_KEY is not set" || d.Verifier != nil {
		t.Fatalf("discord source: %v", d)
	}
	cfg = mustParse(t, text, map[string]string{"DISCORD_PUBLIC_KEY": strings.Repeat("ab", 32)})
	if d := cfg.Source("d"); d.Disabled != "" || d.Verifier == nil {
		t.Fatalf("discord source: %v", d)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	one, empty := write("one", "not-shown-1\n"), write("empty", "\n")
	big := write("big", strings.Repeat("not-shown", 10_000))
	write("two", "not-shown-2\r\n\n")
	const head = "nats:\n  embedded: {}\nsources:\n  gh:\n    verify: github\n"
	t.Run("read", func(t *testing.T) {
		cfg := mustParse(t, head+`    secrets: ["${A}"]`+"\n    secret_files: [\""+one+"\", \"${DIR}/two\"]\n", map[string]string{"A": "a", "DIR": dir})
		if got := strings.Join(cfg.Source("gh").Options.Secrets, ","); got != "a,not-shown-1,not-shown-2" {
			t.Fatalf("secrets %q", got)
		}
	})
	t.Run("files only", func(t *testing.T) {
		cfg := mustParse(t, head+"    secret_files: [\""+one+"\"]\n", nil)
		if s := cfg.Source("gh"); s.Verifier == nil || len(s.Options.Secrets) != 1 {
			t.Fatalf("source %v", s)
		}
	})
	tests := []struct {
		name, files, want string
	}{
		{"missing", `["` + filepath.Join(dir, "nope") + `"]`, `t.yaml:6:20: sources.gh.secret_files[0]: cannot read secret file "` + filepath.Join(dir, "nope") + `": no such file or directory`},
		{"directory", `["` + one + `", "` + dir + `"]`, `sources.gh.secret_files[1]: cannot read secret file "` + dir + `": is a directory`},
		{"empty", `["` + empty + `"]`, `t.yaml:6:20: sources.gh.secret_files[0]: secret file "` + empty + `" is empty`},
		{"too large", `["` + big + `"]`, `t.yaml:6:20: sources.gh.secret_files[0]: secret file "` + big + `" is larger than 65536 bytes: not a secret`},
		{"empty path", `[""]`, `t.yaml:6:20: sources.gh.secret_files[0]: empty file path`},
		{"unset variable in path", `["${DIR}/one"]`, `t.yaml:6:20: sources.gh.secret_files[0]: DIR is not set (write ${DIR:-default} for a fallback)`},
		{"not a list", `x`, `t.yaml:6:19: sources.gh.secret_files: want a list of file paths, not a single value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, head+"    secret_files: "+tt.files+"\n", nil)
			checkNoSecret(t, err)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want %q", err, tt.want)
			}
		})
	}
}
