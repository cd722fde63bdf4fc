package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse: no input makes Parse panic; it returns a config or errors wrapping ErrInvalid,
// and whatever it accepts passes Validate.
func FuzzParse(f *testing.F) {
	if shipped, err := os.ReadFile("../../configs/hookbus.yaml"); err == nil {
		f.Add(shipped)
	}
	if broken, err := os.ReadFile("testdata/broken.yaml"); err == nil {
		f.Add(broken)
	}
	for _, s := range []string{
		"nats:\n  embedded: {}\nsources:\n  a:\n    verify: none\n",
		"sources: {a: {verify: github, secrets: [\"${X:-y}\", '$$${X}']}}\nnats: {url: nats://x:1}",
		"http: {max_body: 1KiB, listen: ':1'}\nnats: {embedded: {auth: {agents: {a: {}}}}}",
		"x: &x {a: 1}\nsources:\n  a:\n    <<: [*x, *x]\n",
		"a: &x [*x]",
		"a: &x {<<: *x}",
		"- a\n- b",
		"---\n---\n",
	} {
		f.Add([]byte(s))
	}
	env := envOf(map[string]string{"X": "v", "E": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, env)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v\n%q", err, data)
		}
	})
}
