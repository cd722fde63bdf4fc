package agents

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hookbus/hookbus/subjects"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// DefaultURL is where agents look for NATS when neither --nats nor NATS_URL says otherwise.
const DefaultURL = "nats://127.0.0.1:4222"

// URL returns the NATS URL from the NATS_URL environment variable (the one the nats tools
// read), or DefaultURL.
func URL() string {
	if u := os.Getenv("NATS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Connect connects to NATS for an agent: named after it, with its own inbox prefix
// (subjects.InboxPrefix, the only inboxes a confined agent may read), reconnecting without
// end, with disconnects and reconnects logged. Credentials come from the URL
// (nats://user:pass@host) or from opts (nats.UserInfo).
func Connect(url, name string, log zerolog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.Name("hookbus-agent-" + name),
		nats.CustomInboxPrefix(subjects.InboxPrefix(name)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("NATS disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("NATS reconnected") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Error().Err(err).Msg("NATS error") }),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("agents: connect to %s: %w", url, err)
	}
	return nc, nil
}

// NewLogger returns a logger writing to w: a human console format when format is "console",
// or "auto" and w is a terminal; JSON lines otherwise. level is a zerolog level name ("" is
// info). It returns an error for an unknown level or format.
func NewLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl := zerolog.InfoLevel
	if level != "" {
		var err error
		if lvl, err = zerolog.ParseLevel(level); err != nil {
			return zerolog.Nop(), fmt.Errorf("log level %q: want trace, debug, info, warn or error", level)
		}
	}
	switch format {
	case "", "auto":
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
		}
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: true}
	case "json":
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want auto, console or json", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Main runs cfg as the whole program: it replaces cfg.Logger, reads the flags --nats (default NATS_URL or
// DefaultURL), --log-level and --log-format, connects, runs the agent until SIGINT or
// SIGTERM, stops it gracefully, and exits non-zero on error. It never returns.
func Main(cfg Config) {
	fs := flag.NewFlagSet(cfg.Name, flag.ExitOnError)
	url := fs.String("nats", URL(), "NATS server URL (env NATS_URL)")
	level := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	format := fs.String("log-format", "auto", "log format: auto, console, json")
	pwFile := fs.String("nats-password-file", os.Getenv("NATS_PASSWORD_FILE"),
		"file holding this agent's NATS password, logging in as the agent's name (env NATS_PASSWORD_FILE; NATS_PASSWORD gives the password itself)")
	_ = fs.Parse(os.Args[1:])
	var opts []nats.Option
	pw := os.Getenv("NATS_PASSWORD")
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", cfg.Name, err)
			os.Exit(1)
		}
		pw = strings.TrimSpace(string(b))
	}
	if pw != "" {
		opts = append(opts, nats.UserInfo(cfg.Name, pw))
	}
	if err := run(cfg, *url, *level, *format, opts...); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cfg.Name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func run(cfg Config, url, level, format string, opts ...nats.Option) error {
	log, err := NewLogger(os.Stderr, level, format)
	if err != nil {
		return err
	}
	cfg.Logger = log
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, err := Connect(url, cfg.Name, log, opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	a, err := New(nc, cfg)
	if err != nil {
		return err
	}
	if err := a.Run(ctx); err != nil {
		return err
	}
	return drain(nc, 10*time.Second)
}

// drain flushes and closes nc, waiting at most timeout for it to close.
func drain(nc *nats.Conn, timeout time.Duration) error {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		return err
	}
	select {
	case <-closed:
	case <-time.After(timeout):
	}
	return nil
}
