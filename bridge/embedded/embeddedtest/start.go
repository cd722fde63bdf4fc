// Package embeddedtest starts embedded NATS servers for tests.
package embeddedtest

import (
	"testing"

	"github.com/hookbus/hookbus/bridge/embedded"
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
