package ops

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/embedded"
	"github.com/nats-io/nats.go"
)

// Target says which NATS server a tool talks to and how it logs in.
type Target struct {
	// URL lists the servers, comma-separated.
	URL string
	// User and Password log in to an embedded server with auth (the admin login).
	User, Password string
	// Creds is a credentials file for an existing NATS.
	Creds string
	// TLS secures the connection to an existing NATS.
	TLS *config.TLS
}

// TargetOf returns where the bridge configured by cfg keeps its streams: for an embedded
// server, nats.embedded.listen (a wildcard host such as 0.0.0.0 reached on loopback) with
// the admin login "hookbus" and its password file when auth is on; otherwise nats.url with
// nats.creds and nats.tls. url, when not "", replaces the address and keeps the login. cfg
// may be nil when url is given.
//
// It returns an error when the admin password file cannot be read (the bridge writes it on
// its first start).
func TargetOf(cfg *config.Config, url string) (Target, error) {
	var t Target
	if cfg != nil {
		if e := cfg.NATS.Embedded; e != nil {
			t.URL = "nats://" + reachable(e.Listen)
			if e.Auth != nil {
				path := embedded.PasswordFile(e.Auth.CredentialsDir, embedded.AdminUser)
				b, err := os.ReadFile(path)
				switch {
				case errors.Is(err, fs.ErrNotExist):
					return Target{}, fmt.Errorf("ops: NATS auth is on, but the admin password file %s does not exist yet: start the bridge once with this config", path)
				case err != nil:
					return Target{}, fmt.Errorf("ops: admin password: %w", err)
				}
				t.User, t.Password = embedded.AdminUser, strings.TrimSpace(string(b))
			}
		} else {
			t.URL, t.Creds, t.TLS = cfg.NATS.URL, cfg.NATS.Creds, cfg.NATS.TLS
		}
	}
	if url != "" {
		t.URL = url
	}
	if t.URL == "" {
		return Target{}, fmt.Errorf("%w: no NATS address: give a config or --nats", ErrInvalid)
	}
	return t, nil
}

// reachable turns a listen address into one a client on this machine can dial.
func reachable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// Connect opens a connection to t, named name, failing at once (after a short connect
// timeout) when no server answers.
func Connect(t Target, name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.Timeout(5 * time.Second)}
	if t.User != "" {
		opts = append(opts, nats.UserInfo(t.User, t.Password))
	}
	if t.Creds != "" {
		opts = append(opts, nats.UserCredentials(t.Creds))
	}
	if t.TLS != nil {
		if t.TLS.CAFile != "" {
			opts = append(opts, nats.RootCAs(t.TLS.CAFile))
		}
		if t.TLS.CertFile != "" {
			opts = append(opts, nats.ClientCert(t.TLS.CertFile, t.TLS.KeyFile))
		}
	}
	nc, err := nats.Connect(t.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w (is the bridge running?)", redact(t.URL), err)
	}
	return nc, nil
}

// redact hides passwords in URLs like nats://user:pass@host.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndexByte(u, '@'); at >= 0 {
			if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
				parts[i] = u[:scheme+3] + "***" + u[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}
