package relay_test

import (
	"errors"
	"os"
	"testing"

	"github.com/hookbus/hookbus/agents/relay"
)

// FuzzParse: no input makes Parse panic; it returns a config or errors wrapping ErrInvalid,
// and whatever it accepts passes Validate again.
func FuzzParse(f *testing.F) {
	if shipped, err := os.ReadFile("../../configs/relay.yaml"); err == nil {
		f.Add(shipped)
	}
	for _, s := range []string{
		"endpoints:\n  a:\n    url: https://x/\n    subjects: [agents.>]\n    secrets: [\"${S}\"]\n",
		"defaults: {secrets: [\"${S:-x}\"], schedule: [1ms], jitter: 0}\nendpoints: {a: {url: 'http://[::1]/', subjects: [dlq.x]}}\nssrf: {allow_loopback: true}",
		"callbacks: {input_field: cb, destinations: {d: {url_prefix: 'https://h:1/p/', secrets: ['$$${S}']}}}",
		"x: &x {a: 1}\nendpoints:\n  a: *x\n",
		"a: &x [*x]",
		"endpoints: &x {a: *x}",
		"- a\n- b",
		"---\n---\n",
		"ssrf: {allow_cidrs: [10.0.0.0/8, '::1', x]}",
	} {
		f.Add([]byte(s))
	}
	env := envOf(map[string]string{"S": secret1, "E": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := relay.Parse("fuzz.yaml", data, env)
		if err != nil {
			if !errors.Is(err, relay.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v\n%q", err, data)
		}
	})
}
