// Command hookbus runs the hookbus bridge: webhooks in, verified, stored on JetStream.
//
//	hookbus serve [--config FILE]   run the bridge (default config: configs/hookbus.yaml)
//	hookbus check [--config FILE]   load and validate a config, then exit
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
)

// defaultConfig is the zero-setup config, relative to the working directory.
const defaultConfig = "configs/hookbus.yaml"

const usage = `usage: hookbus <command> [flags]

commands:
  serve    run the bridge with its embedded NATS (or the configured cluster)
  check    load and validate the config, report disabled sources, and exit

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
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "hookbus: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
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
