package config_test

import (
	"fmt"

	"github.com/hookbus/hookbus/bridge/config"
)

func ExampleParse() {
	text := []byte(`
nats:
  embedded: {}
sources:
  github:
    verify: github
    secrets: ["${GITHUB_WEBHOOK_SECRET}"]
  demo:
    verify: hmac-sha256
    header: X-Signature
    secrets: ["${DEMO_SECRET:-dev-only}"]
`)
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Parse("hookbus.yaml", text, noEnv)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range cfg.Sources {
		fmt.Println(s)
	}

	_, err = config.Parse("bad.yaml", []byte(`
nats: {embedded: {}}
http: {read_timeout: 10x}
sources:
  demo: {verify: none, max_body: 2GB}
`), noEnv)
	fmt.Println(err)
	// Output:
	// github (verify github, disabled: GITHUB_WEBHOOK_SECRET is not set)
	// demo (verify hmac-sha256)
	// bad.yaml:3:22: http.read_timeout: invalid duration "10x" (e.g. 500ms, 10s, 2m, 72h)
	// bad.yaml:5:34: sources.demo.max_body: invalid size "2GB" (bytes, or a number with KiB, MiB, KB or MB)
}
