// Package embeddedtest starts embedded NATS servers for tests.
package embeddedtest

import (
	"testing"

	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Start starts a server for a test on a free loopback port with its store in a fresh
// t.TempDir, and shuts it down when the test ends. It fails the test if the server cannot
// start.
func Start(t testing.TB) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()}, zerolog.Nop())
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Connect connects to s with opts for a test, and closes the connection when the test
// ends. It fails the test if it cannot connect.
func Connect(t testing.TB, s *embedded.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect to embedded NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}
