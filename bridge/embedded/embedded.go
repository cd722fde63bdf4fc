package embedded

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// ErrNotReady is returned by Start when the server does not accept connections in time.
var ErrNotReady = errors.New("embedded: NATS server not ready")

// Config describes one embedded server. The zero value is not usable: StoreDir is required.
type Config struct {
	// Listen is the host:port that agents and tools connect to. Port 0 or -1 picks a free port.
	Listen string
	// StoreDir holds the JetStream files. One directory serves one server at a time.
	StoreDir string
	// SyncAlways makes the store fsync every write before it is acknowledged: an acknowledged
	// event then survives power loss, not only a killed process, at a cost in latency.
	SyncAlways bool
	// SyncInterval is how often the store fsyncs what it wrote when SyncAlways is off
	// (0: the server's default, 2 minutes).
	SyncInterval time.Duration
	// Name is the server name; "hookbus" when empty.
	Name string
	// ReadyTimeout bounds the wait for the server to accept connections; 10s when zero.
	ReadyTimeout time.Duration
	// Users, when not empty, turn authentication on: every client must log in as one of
	// them. An agent user may only do what subjects.AgentPublish and AgentSubscribe allow;
	// an admin user may do anything.
	Users []User
}

// User is one login of the embedded server.
type User struct {
	Name     string
	Password string
	// Admin lifts every permission (the bridge and operator tools); otherwise the user is the
	// agent of the same name and confined to its own subjects.
	Admin bool
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start starts the server and waits until it accepts connections. It returns an error
// when the configuration is invalid, the store directory cannot be created, the address is
// taken, or the server is not ready within the timeout (ErrNotReady).
func Start(cfg Config, log zerolog.Logger) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embedded: store_dir is required")
	}
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded: listen %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded: listen %q: bad port", cfg.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	dir, err := filepath.Abs(cfg.StoreDir)
	if err != nil {
		return nil, fmt.Errorf("embedded: store_dir %q: %w", cfg.StoreDir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded: store_dir %q: %w", cfg.StoreDir, err)
	}
	name := cfg.Name
	if name == "" {
		name = "hookbus"
	}
	opts := &server.Options{
		ServerName:   name,
		Host:         host,
		Port:         port,
		JetStream:    true,
		StoreDir:     dir,
		SyncAlways:   cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval,
		NoSigs:       true,
		NoLog:        false,
	}
	for _, u := range cfg.Users {
		su := &server.User{Username: u.Name, Password: u.Password}
		if !u.Admin {
			su.Permissions = &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: subjects.AgentPublish(u.Name)},
				Subscribe: &server.SubjectPermission{Allow: subjects.AgentSubscribe(u.Name)},
				// Answering a request publishes once to the asker's inbox.
				Response: &server.ResponsePermission{MaxMsgs: 1, Expires: time.Minute},
			}
		}
		opts.Users = append(opts.Users, su)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	ns.SetLoggerV2(logAdapter{log.With().Str("component", "nats-server").Logger()}, false, false, false)
	go ns.Start()
	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if !ns.ReadyForConnections(timeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("%w after %s (listen %q, store_dir %q)", ErrNotReady, timeout, cfg.Listen, cfg.StoreDir)
	}
	return &Server{ns: ns}, nil
}

// ClientURL is the nats:// URL on which the server accepts clients.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// InProcess is a nats.Connect option that connects to this server without a socket.
func (s *Server) InProcess() nats.Option { return nats.InProcessServer(s.ns) }

// NATS returns the underlying server, for tests and tools that need more than this package
// offers.
func (s *Server) NATS() *server.Server { return s.ns }

// Shutdown stops the server, closes the store and waits until it is done. Safe to call more
// than once.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// logAdapter routes the server's log into zerolog.
type logAdapter struct{ log zerolog.Logger }

// Noticef goes to debug: the server's notices (banner, limits) drown hookbus's own lines.
func (l logAdapter) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l logAdapter) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l logAdapter) Fatalf(format string, v ...any) {
	l.log.Error().Bool("fatal", true).Msgf(format, v...)
}
func (l logAdapter) Errorf(format string, v ...any) { l.log.Error().Msgf(format, v...) }
func (l logAdapter) Debugf(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l logAdapter) Tracef(format string, v ...any) { l.log.Trace().Msgf(format, v...) }

// InProcessConn returns a new client connection to the server without a socket.
func (s *Server) InProcessConn() (net.Conn, error) { return s.ns.InProcessConn() }
