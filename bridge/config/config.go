package config

import (
	"fmt"
	"github.com/hookbus/hookbus/subjects"
	"path/filepath"
	"time"

	"github.com/hookbus/hookbus/bridge/verify"
)

// Config is a loaded, validated configuration. Load and Parse fill in the default of every
// key the file leaves out. A Config built or changed in code can be checked with Validate.
type Config struct {
	// Path is the name the config was read under (Load's path, Parse's name).
	Path string
	Log  Log
	HTTP HTTP
	// Admin is the operator listener.
	Admin   Admin
	NATS    NATS
	Streams Streams
	// RequireSecrets refuses to load a config in which a source's secret variable is unset,
	// instead of disabling that source.
	RequireSecrets bool
	// MemoryLimit is the soft limit of the process's memory in bytes, given to the Go
	// runtime (default DefaultMemoryLimit; 0: none, the runtime's own default). The process
	// raises it to one and a half times its live heap while that is more, so that a
	// deployment that needs more memory gets it, with more frequent collections instead of
	// collections without end. The GOMEMLIMIT environment variable, when set, wins.
	MemoryLimit int64
	// Sources in file order, enabled and disabled.
	Sources []*Source
}

// Source returns the source named name, or nil.
func (c *Config) Source(name string) *Source {
	for _, s := range c.Sources {
		if s != nil && s.Name == name {
			return s
		}
	}
	return nil
}

// Log configures the process log.
type Log struct {
	Level  string // trace, debug, info (default), warn, error
	Format string // auto (default: console on a terminal, JSON otherwise), console, json
}

// HTTP configures the ingress listener.
type HTTP struct {
	// Listen is the host:port of the ingress (default 127.0.0.1:8080; port 0 picks a free one).
	Listen string
	// ReadTimeout, WriteTimeout and IdleTimeout bound each connection (defaults 10s, 10s,
	// 60s); 0 means no limit.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// ShutdownTimeout is how long a stop waits for requests in flight (default 30s).
	ShutdownTimeout time.Duration
	// MaxBody is the default body limit of every source, in bytes (default 1MiB, at most
	// MaxBodyLimit).
	MaxBody int64
	// ClientRate limits requests per client address (the TCP peer); zero is no limit.
	ClientRate RateLimit
}

// RateLimit is a token bucket: PerSecond requests on average, Burst at once (0: one
// second's worth). PerSecond 0 means no limit.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Admin configures the operator listener (/healthz, /readyz, /metrics).
type Admin struct {
	// Listen is its host:port (default 127.0.0.1:8081); "" disables it.
	Listen string
}

// NATS says where the streams live: an embedded server, or an existing NATS at URL.
// Exactly one of Embedded and URL is set.
type NATS struct {
	// Embedded runs a NATS server with JetStream inside the process; nil when URL is used.
	Embedded *Embedded
	// URL lists the servers of an existing NATS, comma-separated
	// ("nats://h1:4222,nats://h2:4222").
	URL string
	// Creds is a NATS credentials file (JWT + nkey) for URL.
	Creds string
	// TLS secures the connection to URL; nil means the URL's scheme decides (tls:// uses
	// the system roots).
	TLS *TLS
	// PublishTimeout is how long a publish waits for the JetStream acknowledgement
	// (default 5s; more than 0).
	PublishTimeout time.Duration
}

// TLS configures the client side of a TLS connection to NATS. Paths are relative to the
// working directory unless absolute.
type TLS struct {
	CAFile   string // PEM roots to trust instead of the system's
	CertFile string // client certificate (mutual TLS), together with KeyFile
	KeyFile  string
}

// Embedded configures the embedded NATS server.
type Embedded struct {
	// Listen is where agents and tools connect (default 127.0.0.1:4222; port -1 or 0
	// picks a free one).
	Listen string
	// StoreDir holds the JetStream files (default "./data"); a relative path is relative
	// to the working directory of the process, not to the config file.
	StoreDir string
	// Sync is "default" (an acknowledged event survives a killed process), "batch" (a
	// webhook is answered 2xx only after an fsync that covers it, one fsync for every
	// request in flight; the rest of the store is fsynced every second) or "always" (the
	// server fsyncs every write of every stream before acknowledging it). Batch and always
	// answer webhooks only once they survive a power loss too.
	Sync string
	// Auth, when set, makes every client log in and confines each agent to its own subjects.
	Auth *Auth
}

// Auth configures the logins of the embedded server.
type Auth struct {
	// CredentialsDir receives one "<name>.password" file (mode 0600) per login whose
	// password the config does not give: generated on first start, reused after. Default:
	// "credentials" inside the store dir.
	CredentialsDir string
	// Agents are the agent logins, in file order.
	Agents []AgentLogin
}

// AgentLogin is one agent allowed to connect to the embedded server.
type AgentLogin struct {
	Name string
	// Password is a secret; "" means generated into the credentials dir. String and JSON
	// leave it out.
	Password string `json:"-"`
}

// String returns the agent's name, never its password.
func (a AgentLogin) String() string { return a.Name }

// GoString is String, so that %#v does not print the password either.
func (a AgentLogin) GoString() string { return a.String() }

// Streams are the settings of the hookbus streams.
type Streams struct {
	// Replicas of every stream, 1 to 5 (default 1; 1 with an embedded server).
	Replicas int
	// DuplicateWindow is how long the stream itself remembers a message id (default 2m, at
	// least 1s, at most MaxAge when MaxAge is set).
	DuplicateWindow time.Duration
	// WebhookWindow is the duplicate window of the WEBHOOKS stream while a dedupe horizon
	// is on (default 5s, at least 1s): copies arriving at once are dropped by the stream,
	// later ones by the horizon. Every id in the window is held in server memory (~130
	// bytes each), so it is kept short. Without any horizon, WEBHOOKS uses
	// DuplicateWindow.
	WebhookWindow time.Duration
	// MaxAge drops events older than this; 0 (default) keeps them for ever.
	MaxAge time.Duration
	// DedupeHorizon is the default of every source's DedupeHorizon (default 72h).
	DedupeHorizon time.Duration
	// DedupeDir is the directory of the bridge's dedupe index ("": "horizon" under the
	// embedded store_dir, or under DefaultStoreDir with nats.url). Each bridge process
	// needs its own; a lost one is rebuilt from the stream.
	DedupeDir string
}

// DedupeDir returns the dedupe index directory, with its default applied.
func (c *Config) DedupeDir() string {
	if c.Streams.DedupeDir != "" {
		return c.Streams.DedupeDir
	}
	if c.NATS.Embedded != nil && c.NATS.Embedded.StoreDir != "" {
		return filepath.Join(c.NATS.Embedded.StoreDir, "horizon")
	}
	return filepath.Join(DefaultStoreDir, "horizon")
}

// StreamOptions are the stream settings of c: WEBHOOKS gets the short WebhookWindow only
// while some source has a dedupe horizon.
func (c *Config) StreamOptions() subjects.StreamOptions {
	o := subjects.StreamOptions{
		Replicas:        c.Streams.Replicas,
		DuplicateWindow: c.Streams.DuplicateWindow,
		MaxAge:          c.Streams.MaxAge,
	}
	if c.MaxDedupeHorizon() > 0 {
		o.WebhookWindow = c.Streams.WebhookWindow
	}
	return o
}

// MaxDedupeHorizon is the longest dedupe horizon of any enabled source (0: none).
func (c *Config) MaxDedupeHorizon() time.Duration {
	var h time.Duration
	for _, s := range c.Sources {
		if s != nil && s.Disabled == "" {
			h = max(h, s.DedupeHorizon)
		}
	}
	return h
}

// Source is one configured sender, reached at POST /webhooks/<Name>.
//
// Secrets live only in Options.Secrets (and inside Verifier). Print a Source with %v or
// log it with zerolog's Interface and you get its name, scheme and state: String and the
// JSON encoding leave Options and Verifier out. Never log Options itself.
type Source struct {
	// Name is the URL path segment and the subject token: [a-z0-9][a-z0-9_-]{0,63}.
	Name string
	// Verify is the verify scheme name ("github", "hmac-sha256", …, "none").
	Verify string
	// MaxBody is the body limit of this source, in bytes.
	MaxBody int64
	// DedupeHorizon is how long a stored delivery id is remembered (beyond the stream's
	// duplicate window); 0 turns the horizon off for this source.
	DedupeHorizon time.Duration
	// Rate limits requests to this source, whoever sends them.
	Rate RateLimit
	// Verifier checks this source's requests; nil when Disabled.
	Verifier verify.Verifier `json:"-"`
	// Disabled says why the source is off, e.g. "GITHUB_WEBHOOK_SECRET is not set"; ""
	// when it is enabled. Requests to a disabled source are answered 404.
	Disabled string
	// Options are the verifier settings the source was built with. Options.Secrets holds
	// the secrets in clear: never log, print or marshal Options.
	Options verify.Options `json:"-"`
}

// String describes the source without any secret: "github (verify github)" or
// "github (verify github, disabled: GITHUB_WEBHOOK_SECRET is not set)".
func (s Source) String() string {
	if s.Disabled != "" {
		return fmt.Sprintf("%s (verify %s, disabled: %s)", s.Name, s.Verify, s.Disabled)
	}
	return fmt.Sprintf("%s (verify %s)", s.Name, s.Verify)
}

// GoString is String, so that %#v does not print the secrets either.
func (s Source) GoString() string { return s.String() }

// Defaults of keys left out, and limits.
const (
	DefaultHTTPListen      = "127.0.0.1:8080"
	DefaultAdminListen     = "127.0.0.1:8081"
	DefaultNATSListen      = "127.0.0.1:4222"
	DefaultStoreDir        = "./data"
	DefaultMaxBody         = 1 << 20 // http.max_body: 1MiB
	DefaultPublishTimeout  = 5 * time.Second
	DefaultDuplicateWindow = 2 * time.Minute
	DefaultWebhookWindow   = 5 * time.Second
	DefaultDedupeHorizon   = 72 * time.Hour // Stripe retries for up to three days
	// MaxBodyLimit is the largest max_body accepted: 64MiB.
	MaxBodyLimit = 64 << 20
	// DefaultMemoryLimit is memory_limit's default: 128MiB keeps the resident set of a
	// bridge with the embedded server under 150 MB under load (BENCHMARKS.md).
	DefaultMemoryLimit = 128 << 20
	// MinMemoryLimit and MaxMemoryLimit bound memory_limit when it is not 0.
	MinMemoryLimit = 32 << 20
	MaxMemoryLimit = 1 << 40
)

// defaults returns a Config with the default of every key and no sources; NATS has neither
// Embedded nor URL, since the file must choose.
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
		Admin:       Admin{Listen: DefaultAdminListen},
		NATS:        NATS{PublishTimeout: DefaultPublishTimeout},
		MemoryLimit: DefaultMemoryLimit,
		Streams: Streams{
			Replicas:        1,
			DuplicateWindow: DefaultDuplicateWindow,
			WebhookWindow:   DefaultWebhookWindow,
			DedupeHorizon:   DefaultDedupeHorizon,
		},
	}
}

// defaultEmbedded is the embedded server of an "embedded:" key with nothing under it.
func defaultEmbedded() *Embedded {
	return &Embedded{Listen: DefaultNATSListen, StoreDir: DefaultStoreDir, Sync: "default"}
}
