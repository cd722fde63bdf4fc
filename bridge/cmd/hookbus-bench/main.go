// Command hookbus-bench measures a hookbus bridge (or a baseline) under load and proves
// that what it acknowledged is stored exactly once.
//
//	hookbus-bench load    closed-loop load: throughput, latency, statuses, server CPU and RSS, stream check
//	hookbus-bench e2e     webhook → agent handler latency at a fixed rate
//	hookbus-bench agent   one agent's throughput with a no-op handler
//	hookbus-bench replay  ordered-consumer read rate of a stream
//	hookbus-bench fill    store N events directly (for replay and start-up figures)
//	hookbus-bench floor   raw in-process JetStream async publish: CPU per message
//	hookbus-bench startup time from exec to ready, N runs
//	hookbus-bench wait    wait until a URL answers
//	hookbus-bench serve   run the bridge in this process with pprof profiles
//	hookbus-bench report  tables, medians and ratios from --json result lines
//
// scripts/bench.sh runs them all; BENCHMARKS.md explains the figures.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/bridge/bench"
)

const usage = `usage: hookbus-bench <command> [flags]

commands:
  load     closed-loop load against a bridge or baseline, then the stream check
  e2e      end-to-end latency, webhook to agent handler, at a fixed rate
  agent    one agent's throughput with a no-op handler
  replay   ordered-consumer read rate of a stream
  fill     store events directly in the WEBHOOKS stream
  floor    raw in-process JetStream async publish: CPU per message
  startup  time from exec to ready
  wait     wait until a URL answers below 500
  serve    run the bridge in this process with pprof profiles
  report   markdown tables from --json result lines

Run "hookbus-bench <command> --help" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"load": load, "e2e": e2e, "agent": agent, "replay": replay, "fill": fill, "floor": floor,
		"startup": startup, "wait": wait, "serve": serve, "report": report,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "hookbus-bench: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	}
	fmt.Fprintf(stderr, "hookbus-bench %s: %v\n", args[0], err)
	return 1
}

// labels collects repeated --label key=value flags.
type labels map[string]string

func (l labels) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labels) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	l[k] = v
	return nil
}

// common holds the flags every measuring command has.
type common struct {
	fs     *flag.FlagSet
	labels labels
	json   *bool
}

func newFlags(name string, stderr io.Writer) *common {
	fs := flag.NewFlagSet("hookbus-bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &common{fs: fs, labels: labels{}}
	fs.Var(c.labels, "label", "key=value copied into the result (repeatable); the labels variant, store and round group a report")
	c.json = fs.Bool("json", false, "print one JSON line instead of text")
	return c
}

func (c *common) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// print writes res as one JSON line or as indented JSON for a human, then returns err.
func (c *common) print(w io.Writer, res any, err error) error {
	if res == nil {
		return err
	}
	if l, ok := res.(*bench.LoadResult); ok && !*c.json {
		l.WriteText(w)
		return err
	}
	var b []byte
	var merr error
	if *c.json {
		b, merr = json.Marshal(res)
	} else {
		b, merr = json.MarshalIndent(res, "", "  ")
	}
	if merr != nil {
		return errors.Join(err, merr)
	}
	_, _ = w.Write(append(b, '\n'))
	return err
}

func targetFlags(fs *flag.FlagSet, t *bench.Target) {
	fs.StringVar(&t.URL, "url", "http://127.0.0.1:8080", "server base URL; requests go to <url>/webhooks/<source>")
	fs.StringVar(&t.Source, "source", "github", "source name (path segment and event id prefix)")
	fs.StringVar(&t.Secret, "secret", os.Getenv("HOOKBUS_BENCH_SECRET"), "GitHub webhook secret that signs every body (env HOOKBUS_BENCH_SECRET)")
	fs.IntVar(&t.BodySize, "body", 1024, "body size in bytes")
	fs.DurationVar(&t.Timeout, "timeout", 10*time.Second, "per-request read and write timeout")
}

func load(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newFlags("load", stderr)
	var cfg bench.LoadConfig
	targetFlags(c.fs, &cfg.Target)
	c.fs.StringVar(&cfg.Event, "event", "issues", "X-GitHub-Event header")
	c.fs.IntVar(&cfg.Conns, "conns", 64, "keep-alive connections, one request in flight on each")
	c.fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window")
	c.fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "load before the window, not measured (checked)")
	c.fs.IntVar(&cfg.PID, "pid", 0, "server process id: its CPU time and resident set are read from /proc")
	c.fs.StringVar(&cfg.NATS, "nats", "", "NATS URL of the server's WEBHOOKS stream; every 2xx'd delivery is then checked to be stored once (\"\": no check)")
	c.fs.IntVar(&cfg.Timeline, "timeline", 0, "report throughput, CPU per request and RSS for this many equal parts of the window (0: none)")
	if err := c.parse(args); err != nil {
		return err
	}
	cfg.Labels = c.labels
	res, err := bench.Load(ctx, cfg)
	return c.print(stdout, res, err)
}

func e2e(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newFlags("e2e", stderr)
	var cfg bench.E2EConfig
	targetFlags(c.fs, &cfg.Target)
	c.fs.StringVar(&cfg.NATS, "nats", agents.DefaultURL, "NATS URL the agent connects to")
	c.fs.Float64Var(&cfg.Rate, "rate", 200, "webhooks per second")
	c.fs.IntVar(&cfg.Conns, "conns", 8, "connections (bound on requests in flight)")
	c.fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send")
	c.fs.DurationVar(&cfg.Settle, "settle", 10*time.Second, "bound on the wait for the last events to be handled")
	c.fs.IntVar(&cfg.Concurrency, "concurrency", 0, "the agent's concurrency (0: the SDK default)")
	if err := c.parse(args); err != nil {
		return err
	}
	cfg.Labels = c.labels
	var err error
	if cfg.Logger, err = agents.NewLogger(stderr, "warn", "json"); err != nil {
		return err
	}
	res, err := bench.E2E(ctx, cfg)
	return c.print(stdout, res, err)
}

func agent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newFlags("agent", stderr)
	var cfg bench.AgentConfig
	c.fs.StringVar(&cfg.NATS, "nats", agents.DefaultURL, "NATS URL")
	c.fs.IntVar(&cfg.Count, "count", 20000, "events to store and then handle")
	c.fs.IntVar(&cfg.Concurrency, "concurrency", 0, "the agent's concurrency (0: the SDK default)")
	c.fs.IntVar(&cfg.BodySize, "body", 1024, "body size in bytes")
	c.fs.IntVar(&cfg.PID, "pid", 0, "NATS server (bridge) process id, for its CPU per event")
	c.fs.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "bound on the handling")
	if err := c.parse(args); err != nil {
		return err
	}
	cfg.Labels = c.labels
	var err error
	if cfg.Logger, err = agents.NewLogger(stderr, "warn", "json"); err != nil {
		return err
	}
	res, err := bench.AgentRate(ctx, cfg)
	return c.print(stdout, res, err)
}

func replay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newFlags("replay", stderr)
	var cfg bench.ReplayConfig
	c.fs.StringVar(&cfg.NATS, "nats", agents.DefaultURL, "NATS URL")
	c.fs.StringVar(&cfg.Stream, "stream", "WEBHOOKS", "stream to read")
	c.fs.StringVar(&cfg.Filter, "filter", "", "subject filter (\"\": every message)")
	c.fs.IntVar(&cfg.PID, "pid", 0, "NATS server (bridge) process id, for its CPU per message")
	c.fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "bound on the read")
	if err := c.parse(args); err != nil {
		return err
	}
	cfg.Labels = c.labels
	res, err := bench.Replay(ctx, cfg)
	return c.print(stdout, res, err)
}

func fill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newFlags("fill", stderr)
	var cfg bench.FillConfig
	c.fs.StringVar(&cfg.NATS, "nats", agents.DefaultURL, "NATS URL")
	c.fs.IntVar(&cfg.Count, "count", 100000, "events to store")
	c.fs.StringVar(&cfg.Subject, "subject", "webhooks.bench.fill", "subject (under webhooks.>)")
	c.fs.IntVar(&cfg.BodySize, "body", 1024, "body size in bytes")
	c.fs.IntVar(&cfg.InFlight, "inflight", 256, "publishes awaiting their ack")
	if err := c.parse(args); err != nil {
		return err
	}
	cfg.Labels = c.labels
	res, err := bench.Fill(ctx, cfg)
	return c.print(stdout, res, err)
}

func floor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newFlags("floor", stderr)
	var cfg bench.FloorConfig
	var sync string
	c.fs.StringVar(&cfg.StoreDir, "store", "", "store directory of the in-process JetStream (required; a fresh one)")
	c.fs.StringVar(&sync, "sync", "default", "default, or always (fsync before every ack)")
	c.fs.IntVar(&cfg.BodySize, "body", 1024, "body size in bytes")
	c.fs.IntVar(&cfg.InFlight, "inflight", 64, "publishes awaiting their ack")
	c.fs.IntVar(&cfg.FastBatch, "fast-batch", 0, "publish JetStream fast batches of this many messages, one PubAck each (0: one publish per message)")
	c.fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "publishing before the window")
	c.fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "measured window")
	if err := c.parse(args); err != nil {
		return err
	}
	if sync != "default" && sync != "always" {
		fmt.Fprintf(stderr, "--sync %q: want default or always\n", sync)
		return errUsage
	}
	cfg.SyncAlways = sync == "always"
	cfg.Labels = c.labels
	res, err := bench.Floor(ctx, cfg)
	return c.print(stdout, res, err)
}

func startup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newFlags("startup", stderr)
	var cfg bench.StartupConfig
	var logFile string
	c.fs.StringVar(&cfg.Ready, "ready", "http://127.0.0.1:8081/readyz", "URL that answers 200 once the server is ready")
	c.fs.IntVar(&cfg.Runs, "runs", 3, "starts to time")
	c.fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "bound on each start")
	c.fs.StringVar(&logFile, "log", "", "file for the server's stderr (\"\": discarded)")
	c.fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hookbus-bench startup [flags] -- command [args...]")
		c.fs.PrintDefaults()
	}
	if err := c.parse(args); err != nil {
		return err
	}
	cfg.Argv = c.fs.Args()
	if len(cfg.Argv) == 0 {
		c.fs.Usage()
		return errUsage
	}
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.Stderr = f
	}
	cfg.Labels = c.labels
	res, err := bench.Startup(ctx, cfg)
	return c.print(stdout, res, err)
}

func wait(ctx context.Context, args []string, _, stderr io.Writer) error {
	c := newFlags("wait", stderr)
	url := c.fs.String("url", "http://127.0.0.1:8081/readyz", "URL to poll")
	timeout := c.fs.Duration("timeout", 30*time.Second, "give up after")
	if err := c.parse(args); err != nil {
		return err
	}
	return bench.WaitReady(ctx, *url, *timeout)
}

func serve(ctx context.Context, args []string, _, stderr io.Writer) error {
	c := newFlags("serve", stderr)
	path := c.fs.String("config", "configs/hookbus.yaml", "config file")
	var p bench.Profiles
	c.fs.StringVar(&p.CPU, "cpuprofile", "", "write a CPU profile here")
	c.fs.StringVar(&p.Block, "blockprofile", "", "write a block profile here")
	c.fs.StringVar(&p.Mutex, "mutexprofile", "", "write a mutex profile here")
	c.fs.StringVar(&p.Heap, "memprofile", "", "write a heap (allocations) profile here")
	if err := c.parse(args); err != nil {
		return err
	}
	log, err := agents.NewLogger(stderr, "warn", "json")
	if err != nil {
		return err
	}
	return bench.ServeProfiled(ctx, *path, p, log, nil)
}

// pairs collects repeated --pair A,B flags.
type pairs []bench.Pair

func (p *pairs) String() string { return fmt.Sprint(*p) }

func (p *pairs) Set(s string) error {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return fmt.Errorf("want A,B, got %q", s)
	}
	*p = append(*p, bench.Pair{A: a, B: b})
	return nil
}

// floors collects repeated --floor NOOP,FLOOR,TARGET flags.
type floors []bench.FloorPair

func (f *floors) String() string { return fmt.Sprint(*f) }

func (f *floors) Set(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return fmt.Errorf("want NOOP,FLOOR,TARGET, got %q", s)
	}
	*f = append(*f, bench.FloorPair{Noop: parts[0], Floor: parts[1], Target: parts[2]})
	return nil
}

func report(_ context.Context, args []string, stdout, stderr io.Writer) error {
	c := newFlags("report", stderr)
	var cfg bench.ReportConfig
	c.fs.Var((*pairs)(&cfg.Pairs), "pair", "A,B: compare variant@store A with B round by round (repeatable)")
	c.fs.Var((*floors)(&cfg.Floors), "floor", "NOOP,FLOOR,TARGET: compare TARGET's CPU per request with NOOP's plus FLOOR's (repeatable)")
	if err := c.parse(args); err != nil {
		return err
	}
	var in io.Reader = os.Stdin
	if c.fs.NArg() > 0 {
		var rs []io.Reader
		for _, name := range c.fs.Args() {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			rs = append(rs, f)
		}
		in = io.MultiReader(rs...)
	}
	return bench.Report(stdout, in, cfg)
}
