package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// run runs a command line. It reads the environment only through getenv, so tests can run commands
// in-process with a configuration of their own.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	root := newRootCommand(&cli{getenv: getenv, stdout: stdout, stderr: stderr})
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// cli is what every command gets from run: the environment and where to write.
type cli struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// config reads the configuration from the environment. Only commands that use it call it, when they
// run: a bad value stops serve or replay, never --help, version or completion.
func (c *cli) config() (config, error) {
	return configFromEnv(c.getenv)
}

// newRootCommand builds the command tree.
func newRootCommand(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:   "hookd",
		Short: "hookd: an event-sourced webhook platform",
		Long: `hookd: an event-sourced webhook platform.

Every command reads its configuration from the environment (HOOKD_DATA_DIR, HOOKD_ADDR, ...; see
README.md); serve also takes --addr and --data-dir. The commands that work on the data directory
(license, replay, projections, deliveries, console --license) work whether or not serve runs on it.`,
		// Errors are returned to main, which prints them once; usage is for --help.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	})
	root.AddCommand(
		newServeCommand(c),
		group(&cobra.Command{Use: "projections", Short: "Work on the read models"}, newRebuildCommand(c)),
		newReplayCommand(c),
		group(&cobra.Command{Use: "license", Short: "Issue, list and revoke licenses"},
			newLicenseIssueCommand(c), newLicenseListCommand(c), newLicenseRevokeCommand(c)),
		group(&cobra.Command{Use: "deliveries", Short: "Read a webhook's delivery log, and retry deliveries"},
			newDeliveriesListCommand(c), newDeliveriesShowCommand(c), newDeliveriesRetryCommand(c)),
		newHeadersCommand(c),
		newReceiveCommand(c),
		newConsoleCommand(c),
		&cobra.Command{
			Use: "version", Short: "Print the version /healthz shows", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), buildVersion())
				return err
			},
		},
	)
	return root
}

// group makes parent a command that only holds subcommands: alone it prints its help, and a word
// that names none of them is an error (cobra would otherwise print the help and succeed).
func group(parent *cobra.Command, subcommands ...*cobra.Command) *cobra.Command {
	parent.Args = cobra.ArbitraryArgs
	parent.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return cmd.Help()
	}
	parent.AddCommand(subcommands...)
	return parent
}
