// Command relay runs the hookbus relay: it delivers bus events to HTTP endpoints and task
// outcomes to callback URLs, signed per Standard Webhooks, retried, never lost.
//
//	go run ./agents/relay/cmd/relay --config configs/relay.yaml
//	go run ./agents/relay/cmd/relay --config configs/relay.yaml --check
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/agents/relay"
	"github.com/nats-io/nats.go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "relay: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	path := fs.String("config", "configs/relay.yaml", "relay config file")
	check := fs.Bool("check", false, "validate the config, list what it relays, and exit")
	url := fs.String("nats", agents.URL(), "NATS server URL (env NATS_URL)")
	level := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	format := fs.String("log-format", "auto", "log format: auto, console, json")
	pwFile := fs.String("nats-password-file", os.Getenv("NATS_PASSWORD_FILE"),
		"file holding the relay's NATS password, logging in as \"relay\" (env NATS_PASSWORD_FILE; NATS_PASSWORD gives the password itself)")
	_ = fs.Parse(os.Args[1:])

	cfg, err := relay.Load(*path, nil)
	if err != nil {
		return err
	}
	if *check {
		for _, e := range cfg.Endpoints {
			fmt.Printf("endpoint %s: %s ← %s\n", e.Name, e.URL, strings.Join(e.Subjects, ", "))
		}
		for _, d := range cfg.Callbacks.Destinations {
			fmt.Printf("callbacks %s: %s…\n", d.Name, d.URLPrefix)
		}
		if cfg.Admin.Listen != "" {
			fmt.Printf("admin: %s (/metrics, /healthz, /readyz)\n", cfg.Admin.Listen)
		}
		return nil
	}
	log, err := agents.NewLogger(os.Stderr, *level, *format)
	if err != nil {
		return err
	}
	var opts []nats.Option
	pw := os.Getenv("NATS_PASSWORD")
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return err
		}
		pw = strings.TrimSpace(string(b))
	}
	if pw != "" {
		opts = append(opts, nats.UserInfo(relay.Name, pw))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, err := agents.Connect(*url, relay.Name, log, opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	r, err := relay.New(nc, cfg, log)
	if err != nil {
		return err
	}
	if err := r.Run(ctx); err != nil {
		return err
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		return err
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
	}
	return nil
}
