package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := envOf(map[string]string{"A": "x", "EMPTY": "", "Q": `": {`, "D": "$$"})
	tests := []struct {
		name, in, out string
		miss          string // missing variables, "NAME" or "NAME(empty)", comma-separated
		err           error
	}{
		{"plain", "plain", "plain", "", nil},
		{"variable", "${A}", "x", "", nil},
		{"inside text", "pre-${A}-post", "pre-x-post", "", nil},
		{"twice", "${A}${A}", "xx", "", nil},
		{"default for unset", "${B:-dflt}", "dflt", "", nil},
		{"default for empty", "${EMPTY:-dflt}", "dflt", "", nil},
		{"empty default", "${B:-}", "", "", nil},
		{"default taken literally", "${B:-a:-b${C}", "a:-b${C", "", nil},
		{"set ignores default", "${A:-dflt}", "x", "", nil},
		{"unset", "${B}", "", "B", nil},
		{"unset once", "${B}-${B}", "-", "B", nil},
		{"empty", "${EMPTY}", "", "EMPTY(empty)", nil},
		{"partial", "k-${B}", "k-", "B", nil},
		{"dollar dollar", "$$A $${A} a$$", "$A ${A} a$", "", nil},
		{"lone dollar", "cost $5, $A, $", "cost $5, $A, $", "", nil},
		{"value not re-expanded", "${D}", "$$", "", nil},
		{"yaml syntax in value", "${Q}", `": {`, "", nil},
		{"unterminated", "${A", "", "", errUnterminated},
		{"unterminated later", "${A} ${B", "", "", errUnterminated},
		{"digit first", "${1A}", "", "", errBadName},
		{"empty name", "${}", "", "", errBadName},
		{"bash default", "${A-x}", "", "", errBadName},
		{"space", "${ A }", "", "", errBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, miss, err := expand(tt.in, env)
			var got []string
			for _, m := range miss {
				if m.Empty {
					got = append(got, m.Name+"(empty)")
				} else {
					got = append(got, m.Name)
				}
			}
			if !errors.Is(err, tt.err) || out != tt.out || strings.Join(got, ",") != tt.miss {
				t.Fatalf("expand(%q) = %q, %v, %v; want %q, %q, %v", tt.in, out, got, err, tt.out, tt.miss, tt.err)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		in   []missing
		want string
	}{
		{[]missing{{Name: "A"}}, "A is not set"},
		{[]missing{{Name: "A"}, {Name: "B"}, {Name: "C"}}, "A, B and C are not set"},
		{[]missing{{Name: "A", Empty: true}}, "A is empty"},
		{[]missing{{Name: "A"}, {Name: "B", Empty: true}, {Name: "C", Empty: true}}, "A is not set; B and C are empty"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := describe(tt.in); got != tt.want {
				t.Fatalf("describe = %q", got)
			}
		})
	}
}

// TestExpansionKeepsStructure: values full of YAML syntax, expanded, stay one value each and
// add no key, source or secret.
func TestExpansionKeepsStructure(t *testing.T) {
	const text = `nats:
  embedded:
    store_dir: "${DIR}"
sources:
  demo:
    verify: hmac-sha256
    header: X-Sig
    event: ${EVENT}
    secrets: ["${S}"]
`
	values := []string{
		`": {`,
		`a", "b"]` + "\n  evil:\n    verify: none #",
		"x\n---\nsources: {evil: {verify: none}}",
		`{verify: none}`,
		`*anchor`,
		`$$ ${NESTED}`,
	}
	for i, v := range values {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			cfg := mustParse(t, text, map[string]string{"S": v, "DIR": v, "EVENT": v})
			if len(cfg.Sources) != 1 {
				t.Fatalf("%d sources", len(cfg.Sources))
			}
			o := cfg.Sources[0].Options
			if len(o.Secrets) != 1 || o.Secrets[0] != v || o.Event != v || cfg.NATS.Embedded.StoreDir != v {
				t.Fatalf("value changed: %d secrets, event %q, store_dir %q", len(o.Secrets), o.Event, cfg.NATS.Embedded.StoreDir)
			}
		})
	}
}
