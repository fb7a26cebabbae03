package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/license"
)

// cliCaller is the actor of what an operator does with the hookd command.
var cliCaller = command.Caller{Actor: "cli"}

// The license commands work on the data directory directly, so they work whether or not serve runs.

func newLicenseIssueCommand(c *cli) *cobra.Command {
	var level, tenant, community string
	cmd := &cobra.Command{
		Use:   "issue --level LEVEL [--tenant T [--community C]]",
		Short: "Issue a license and print its key, shown only then",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lvl, err := license.ParseLevel(level)
			if err != nil {
				return fmt.Errorf("license issue: --level: %w", err)
			}
			return withNode(cmd.Context(), c, func(n *node) error {
				return issueLicense(cmd.Context(), n, lvl, license.Scope{TenantID: tenant, CommunityID: community}, c.stdout)
			})
		},
	}
	cmd.Flags().StringVar(&level, "level", "", "auth level: system, service or service_ext (required)")
	cmd.Flags().StringVar(&tenant, "tenant", "", "limit the license to this tenant")
	cmd.Flags().StringVar(&community, "community", "", "limit the license to this community of the tenant")
	return cmd
}

func newLicenseListCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the licenses: id, level, scope, the key's last characters, state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withNode(cmd.Context(), c, func(n *node) error { return listLicenses(cmd.Context(), n, c.stdout) })
		},
	}
}

func newLicenseRevokeCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID|KEY",
		Short: "Revoke a license by the id license list prints, or by its key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withNode(cmd.Context(), c, func(n *node) error { return revokeLicense(cmd.Context(), n, args[0], c.stdout) })
		},
	}
}

// withNode reads the configuration, opens the data directory, runs f and closes it.
func withNode(ctx context.Context, c *cli, f func(*node) error) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	n, err := openNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	return errors.Join(f(n), n.close())
}

// revokeLicense revokes the license whose id (a UUID, as license list prints it) or key is given.
// A key shaped like a UUID is possible (HOOKD_BOOTSTRAP_LICENSE_KEY can be anything of 16 to 256
// characters), so a UUID that is no license's id is tried as a key.
func revokeLicense(ctx context.Context, n *node, idOrKey string, stdout io.Writer) error {
	var err error
	if uuid.Validate(idOrKey) == nil {
		_, err = n.licenses.RevokeID(ctx, idOrKey, cliCaller)
	}
	if uuid.Validate(idOrKey) != nil || errors.Is(err, license.ErrNotFound) {
		_, err = n.licenses.Revoke(ctx, idOrKey, cliCaller)
	}
	switch {
	case errors.Is(err, license.ErrNotFound):
		// The key is a credential: it is not repeated in the message.
		return errors.New("license revoke: no license has that id or key (hookd license list shows the ids)")
	case err != nil:
		return fmt.Errorf("license revoke: %w", err)
	}
	fmt.Fprintln(stdout, "revoked")
	return nil
}

func issueLicense(ctx context.Context, n *node, lvl license.Level, scope license.Scope, stdout io.Writer) error {
	issued, err := n.licenses.Issue(ctx, command.IssueLicense{Level: lvl, Scope: scope}, cliCaller)
	if err != nil {
		return fmt.Errorf("license issue: %w", err)
	}
	// The key is the last word, so scripts can take it with awk '{print $NF}'.
	fmt.Fprintf(stdout, "issued license %s (level %s, scope %s); its key, shown only now: %s\n",
		issued.LicenseID, lvl, scopeText(scope), issued.Key)
	return nil
}

func listLicenses(ctx context.Context, n *node, stdout io.Writer) error {
	if err := n.catchUp(ctx); err != nil {
		return err
	}
	all, err := n.licenseView.List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tLEVEL\tSCOPE\tKEY\tSTATE\tISSUED")
	for _, l := range all {
		state := "active"
		if l.Revoked {
			state = "revoked"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Level, scopeText(l.Scope), l.KeyHint, state,
			l.IssuedAt.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

func scopeText(s license.Scope) string {
	switch {
	case s.CommunityID != "":
		return "tenant " + s.TenantID + " community " + s.CommunityID
	case s.TenantID != "":
		return "tenant " + s.TenantID
	}
	return "all"
}
