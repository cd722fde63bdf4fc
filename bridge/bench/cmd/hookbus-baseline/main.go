// Command hookbus-baseline runs one of the servers hookbus is measured against:
//
//	hookbus-baseline --mode noop   fasthttp, reads the body, answers 200: the HTTP ceiling
//	hookbus-baseline --mode naive  net/http, HMAC check, one synchronous JetStream publish
//	                               per request, answer after the ack (embedded NATS, file store)
//
// It serves until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/bridge/bench"
)

func main() {
	fs := flag.NewFlagSet("hookbus-baseline", flag.ExitOnError)
	var cfg bench.BaselineConfig
	var sync string
	fs.StringVar(&cfg.Mode, "mode", bench.ModeNoop, "noop or naive")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "HTTP address")
	fs.StringVar(&cfg.Source, "source", "github", "naive: source name, served at /webhooks/<source>")
	fs.StringVar(&cfg.Secret, "secret", os.Getenv("HOOKBUS_BENCH_SECRET"), "naive: GitHub webhook secret (env HOOKBUS_BENCH_SECRET)")
	fs.StringVar(&cfg.StoreDir, "store", "./data-naive", "naive: store directory of the embedded JetStream")
	fs.StringVar(&sync, "sync", "default", "naive: default, or always (fsync before every ack)")
	fs.StringVar(&cfg.NATSListen, "nats-listen", "127.0.0.1:4222", "naive: where the embedded NATS listens (for the stream check)")
	fs.StringVar(&cfg.NATSURL, "nats", "", "naive: an existing NATS server instead of the embedded one")
	_ = fs.Parse(os.Args[1:])
	if sync != "default" && sync != "always" {
		fmt.Fprintf(os.Stderr, "hookbus-baseline: --sync %q: want default or always\n", sync)
		os.Exit(2)
	}
	cfg.SyncAlways = sync == "always"
	log, err := agents.NewLogger(os.Stderr, "info", "auto")
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookbus-baseline: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = bench.ServeBaseline(ctx, cfg, log, func(addr string) {
		log.Info().Str("mode", cfg.Mode).Str("http", addr).Msg("baseline listening")
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "hookbus-baseline: %v\n", err)
		stop()
		os.Exit(1)
	}
}
