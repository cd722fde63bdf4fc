package config

import (
	"time"

	"github.com/hookbus/hookbus/bridge/verify"
)

// Config is a loaded, validated configuration.
type Config struct {
	// Path is the file it was read from.
	Path string
	Log  Log
	HTTP HTTP
	// Admin is the operator listener.
	Admin   Admin
	NATS    NATS
	Streams Streams
	// RequireSecrets refuses to start when a source's secret variable is unset, instead of
	// disabling the source.
	RequireSecrets bool
	// Sources in file order, enabled and disabled.
	Sources []*Source
}

// Source returns the source named name, or nil.
func (c *Config) Source(name string) *Source {
	for _, s := range c.Sources {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Log configures the process log.
type Log struct {
	Level  string // trace, debug, info, warn, error
	Format string // auto, console, json
}

// HTTP configures the ingress listener.
type HTTP struct {
	Listen          string
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	ShutdownTimeout time.Duration
	// MaxBody is the default body limit of every source, in bytes.
	MaxBody int64
	// ClientRate limits requests per client address (the TCP peer); zero is no limit.
	ClientRate RateLimit
}

// RateLimit is a token bucket: PerSecond requests on average, Burst at once (default: one
// second's worth). PerSecond 0 means no limit.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Admin configures the operator listener (/healthz, /readyz).
type Admin struct {
	// Listen is its address; "" disables it.
	Listen string
}

// NATS says where the streams live: an embedded server, or an existing one at URL.
type NATS struct {
	Embedded *Embedded // nil when URL is used
	// URL lists the servers of an existing NATS, comma-separated.
	URL string
	// Creds is a NATS credentials file (JWT + nkey) for URL.
	Creds string
	// TLS secures the connection to URL; nil means the URL's scheme decides (tls:// needs
	// the system roots).
	TLS            *TLS
	PublishTimeout time.Duration
}

// TLS configures the client side of a TLS connection to NATS.
type TLS struct {
	CAFile   string // PEM roots to trust instead of the system's
	CertFile string // client certificate (mutual TLS), with KeyFile
	KeyFile  string
}

// Embedded configures the embedded NATS server.
type Embedded struct {
	Listen   string
	StoreDir string // relative to the working directory unless absolute
	Sync     string // "default" (survives a killed process) or "always" (fsync before ack)
	// Auth, when set, makes every client log in and confines each agent to its own subjects.
	Auth *Auth
}

// Auth configures the logins of the embedded server.
type Auth struct {
	// CredentialsDir receives one "<name>.password" file (mode 0600) per login whose
	// password the config does not give: generated on first start, reused after.
	CredentialsDir string
	// Agents are the agent logins, in file order.
	Agents []AgentLogin
}

// AgentLogin is one agent allowed to connect. Password "" means generated.
type AgentLogin struct {
	Name     string
	Password string
}

// Streams are the settings of the hookbus streams.
type Streams struct {
	Replicas        int
	DuplicateWindow time.Duration
	MaxAge          time.Duration
	// DedupeHorizon is the default of every source's DedupeHorizon.
	DedupeHorizon time.Duration
}

// Source is one configured sender.
type Source struct {
	Name   string
	Verify string // scheme name
	// MaxBody is the body limit of this source, in bytes.
	MaxBody int64
	// DedupeHorizon is how long a stored delivery id is remembered (beyond the stream's
	// duplicate window); 0 turns the horizon off for this source.
	DedupeHorizon time.Duration
	// Rate limits requests to this source, whoever sends them.
	Rate RateLimit
	// Verifier checks this source's requests; nil when Disabled.
	Verifier verify.Verifier
	// Disabled says why the source is off ("GITHUB_WEBHOOK_SECRET is not set"); "" when it
	// is enabled. Requests to a disabled source are answered 404.
	Disabled string
	// Options hold the verifier settings, secrets included: never log them.
	Options verify.Options
}

// Defaults of keys left out.
const (
	DefaultHTTPListen     = "127.0.0.1:8080"
	DefaultAdminListen    = "127.0.0.1:8081"
	DefaultNATSListen     = "127.0.0.1:4222"
	DefaultStoreDir       = "./data"
	DefaultMaxBody        = 1 << 20
	MaxMaxBody            = 64 << 20
	DefaultPublishTimeout = 5 * time.Second
)

func defaults() *Config {
	return &Config{
		Log: Log{Level: "info", Format: "auto"},
		HTTP: HTTP{
			Listen:          DefaultHTTPListen,
			ReadTimeout:     10 * time.Second,
			WriteTimeout:    10 * time.Second,
			IdleTimeout:     60 * time.Second,
			ShutdownTimeout: 30 * time.Second,
			MaxBody:         DefaultMaxBody,
		},
		Admin:   Admin{Listen: DefaultAdminListen},
		NATS:    NATS{PublishTimeout: DefaultPublishTimeout},
		Streams: Streams{Replicas: 1, DuplicateWindow: 2 * time.Minute, DedupeHorizon: 72 * time.Hour},
	}
}
