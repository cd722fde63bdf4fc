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
	_, err = config.Parse("bad.yaml", []byte("nats: {embedded: {}}\nsources: {a: {verify: none, colour: red}}\n"), noEnv)
	fmt.Println(err)
	// Output:
	// github enabled=false "GITHUB_WEBHOOK_SECRET is not set"
	// demo enabled=true ""
	// bad.yaml:2:29: unknown key "colour" in sources.a (known: algorithm, allow_sha1, encoding, event, event_header, header, id_header, max_body, prefix, secret_files, secrets, tolerance, verify)
}
