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
		panic(err)
	}
	for _, s := range cfg.Sources {
		fmt.Printf("%s enabled=%v %q\n", s.Name, s.Disabled == "", s.Disabled)
	}
	_, err = config.Parse("bad.yaml", []byte("nats: {embedded: {}}\nsources: {a: {verify: none, max_body: 2GB}}\n"), noEnv)
	fmt.Println(err)
	// Output:
	// github enabled=false "GITHUB_WEBHOOK_SECRET is not set"
	// demo enabled=true ""
	// bad.yaml:2:39: sources.a.max_body: invalid size "2GB" (bytes, or with KiB, MiB, KB, MB)
}
