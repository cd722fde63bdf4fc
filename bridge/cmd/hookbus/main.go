// Command hookbus runs the hookbus bridge: webhooks in, verified, stored on JetStream.
//
//	hookbus serve [--config FILE]   run the bridge (default config: configs/hookbus.yaml)
//	hookbus check [--config FILE]   load and validate a config, then exit
//
// and the operator's recovery tools (package ops): agents, rewind, replay, dlq, tail, send.
// Exit status: 0 done, 1 failed, 2 a command-line mistake.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookbus/hookbus/agents"
	"github.com/hookbus/hookbus/bridge"
	"github.com/hookbus/hookbus/bridge/config"
	"github.com/hookbus/hookbus/bridge/ops"
)

// defaultConfig is the zero-setup config, relative to the working directory.
const defaultConfig = "configs/hookbus.yaml"

const usage = `usage: hookbus <command> [flags]

commands:
  serve    run the bridge with its embedded NATS (or the configured cluster)
  check    load and validate the config, report disabled sources, and exit

recovery tools (they find NATS through --config, or --nats URL; --json for JSON output):
  agents   list agents: backlog, redeliveries, last activity, dead letters
  rewind   move one agent back so it handles events again (rewind AGENT --since 2h)
  replay   re-drive a bounded range of stored events, marked as replays
  dlq      list, show, redrive or purge dead letters
  tail     follow events live
  send     sign a sample webhook as a source's sender would and post it to the bridge

Run "hookbus <command> --help" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage is a command-line mistake: exit status 2.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr)
	case "check":
		err = check(args[1:], stdout, stderr)
	case "agents":
		err = agentsCmd(args[1:], stdout, stderr)
	case "rewind":
		err = rewindCmd(args[1:], stdout, stderr)
	case "replay":
		err = replayCmd(args[1:], stdout, stderr)
	case "dlq":
		err = dlqCmd(args[1:], stdout, stderr)
	case "tail":
		err = tailCmd(args[1:], stdout, stderr)
	case "send":
		err = sendCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "hookbus: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageErr
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage): // the flag package has said what is wrong
		return 2
	case errors.As(err, &ue), errors.Is(err, ops.ErrInvalid):
		fmt.Fprintf(stderr, "hookbus: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "hookbus: %v\n", err)
	return 1
}

func configFlag(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("hookbus "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "config file")
	return fs, path
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	return nil
}

func serve(args []string, stderr io.Writer) error {
	fs, path := configFlag("serve", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, nil)
	if err != nil {
		return err
	}
	log, err := agents.NewLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	log = log.With().Str("service", "hookbus").Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info().Str("config", *path).Msg("starting")
	bridge.LimitMemory(ctx, cfg.MemoryLimit, log)
	if err := bridge.Run(ctx, cfg, log, nil); err != nil {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}

func check(args []string, stdout, stderr io.Writer) error {
	fs, path := configFlag("check", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	for _, s := range cfg.Sources {
		state := "enabled"
		if s.Disabled != "" {
			state = "disabled: " + s.Disabled
		}
		fmt.Fprintf(stdout, "  source %-16s verify %-12s %s\n", s.Name, s.Verify, state)
	}
	return nil
}
