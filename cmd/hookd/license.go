package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/license"
)

// cliCaller is the actor of what an operator does with the hookd command.
var cliCaller = command.Caller{Actor: "cli"}

// licenseCommand runs `hookd license issue|list|revoke` against the data directory directly, so it
// works whether or not serve is running.
func licenseCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: hookd license issue|list|revoke")
	}
	// Bad arguments are refused before the data directory is opened (and, the first time, created).
	switch {
	case args[0] != "issue" && args[0] != "list" && args[0] != "revoke":
		return fmt.Errorf("unknown license command %q (issue, list or revoke)", args[0])
	case args[0] == "revoke" && len(args) != 2:
		return errors.New("usage: hookd license revoke KEY")
	}
	n, err := openNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer n.close()
	switch args[0] {
	case "issue":
		return issueLicense(ctx, n, args[1:], stdout)
	case "list":
		if err := parseFlags(flag.NewFlagSet("license list", flag.ContinueOnError), args[1:]); err != nil {
			return err
		}
		return listLicenses(ctx, n, stdout)
	default: // revoke, checked above
		if _, err := n.licenses.Revoke(ctx, args[1], cliCaller); err != nil {
			return fmt.Errorf("license revoke: %w", err)
		}
		fmt.Fprintln(stdout, "revoked")
		return nil
	}
}

func issueLicense(ctx context.Context, n *node, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("license issue", flag.ContinueOnError)
	level := fs.String("level", "", "auth level: system, service or service_ext (required)")
	tenant := fs.String("tenant", "", "limit the license to this tenant")
	community := fs.String("community", "", "limit the license to this community of the tenant")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	lvl, err := license.ParseLevel(*level)
	if err != nil {
		return fmt.Errorf("license issue: --level: %w", err)
	}
	issued, err := n.licenses.Issue(ctx, command.IssueLicense{
		Level: lvl, Scope: license.Scope{TenantID: *tenant, CommunityID: *community},
	}, cliCaller)
	if err != nil {
		return fmt.Errorf("license issue: %w", err)
	}
	// The key is the last word, so scripts can take it with awk '{print $NF}'.
	fmt.Fprintf(stdout, "issued license %s (level %s, scope %s); its key, shown only now: %s\n",
		issued.LicenseID, lvl, scopeText(license.Scope{TenantID: *tenant, CommunityID: *community}), issued.Key)
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
