package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

const usage = `hookd: an event-sourced webhook platform

Usage:
  hookd serve                                  run the API and the projections
  hookd projections rebuild                    rebuild every read model from the log
  hookd replay --tenant T --community C [--webhook W] [--status S] [--since D] [--event E]
               [--mode current|original] [--dry-run] [--request-id ID]
                                               send deliveries again (at least one filter)
  hookd license issue --level L [--tenant T [--community C]]
  hookd license list
  hookd license revoke KEY
  hookd headers --license KEY [--url URL]      print the 1Kosmos auth headers for one curl call
  hookd version

Every command reads its configuration from the environment (see README.md); serve also takes flags.
`

// run dispatches a command line. It reads the environment only through getenv, so tests can run
// commands in-process with a configuration of their own.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cfg, err := configFromEnv(getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		return serve(ctx, cfg, args[1:], stderr)
	case "projections":
		if len(args) < 2 || args[1] != "rebuild" {
			return errors.New("usage: hookd projections rebuild")
		}
		return rebuild(ctx, cfg, args[2:], stdout, stderr)
	case "replay":
		return replayCommand(ctx, cfg, args[1:], stdout, stderr)
	case "license":
		return licenseCommand(ctx, cfg, args[1:], stdout)
	case "headers":
		return headers(ctx, cfg, args[1:], stdout)
	case "version":
		fmt.Fprintln(stdout, buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", strings.Join(args[:1], " "))
}

// parseFlags parses a subcommand's flags, reporting errors instead of exiting, and refuses
// arguments left over.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
