// Package agentstest runs a real NATS server with JetStream for tests of agents: on a free
// loopback port, storing in the test's temporary directory, with the hookbus streams created.
package agentstest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is a NATS server started for one test.
type Server struct {
	*server.Server
	opts *server.Options
}

// Start starts a server with the hookbus streams and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{opts: &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoSigs:    true,
		NoLog:     true,
	}}
	s.start(t)
	nc := s.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, sc := range subjects.Streams(subjects.StreamOptions{}) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			t.Fatalf("create stream %s: %v", sc.Name, err)
		}
	}
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	ns, err := server.NewServer(s.opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	s.Server = ns
	// Later restarts keep the port and the store.
	if a, ok := ns.Addr().(*net.TCPAddr); ok {
		s.opts.Port = a.Port
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
}

// Connect opens a client connection that closes when the test ends.
func (s *Server) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Restart stops the server and starts it again on the same port with the same store, as an
// outage of NATS would look to clients.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Shutdown()
	s.WaitForShutdown()
	s.start(t)
}
