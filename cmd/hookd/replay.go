package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/deliveryview"
	"github.com/hookd/hookd/projections/webhookview"
)

func newReplayCommand(c *cli) *cobra.Command {
	var o replayOptions
	cmd := &cobra.Command{
		Use:   "replay --tenant T --community C [--webhook W] (--status S | --since D | --event E | --delivery ID...)",
		Short: "Send deliveries again",
		Long: `Ask for deliveries to be sent again: those given by --delivery, or those of one webhook (or of every
webhook of the community that still exists) that the filters select. Deliveries still in flight are
skipped; --dry-run only counts. An interrupted run repeated with --request-id completes without
replaying any delivery twice. It only appends to the log; a running serve sends the deliveries.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return replayCommand(cmd.Context(), c, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.tenant, "tenant", "", "the tenant (required)")
	f.StringVar(&o.community, "community", "", "the community (required)")
	f.StringVar(&o.webhookID, "webhook", "", "only this webhook's deliveries (default: every webhook of the community)")
	f.StringVar(&o.status, "status", "", "only deliveries that stand there: scheduled, succeeded or failed")
	f.StringVar(&o.since, "since", "", "only deliveries first scheduled this long ago or later: days such as 7d, or a Go duration such as 36h or 90m")
	f.StringVar(&o.eventName, "event", "", "only deliveries of events of this name")
	f.StringArrayVar(&o.deliveryIDs, "delivery", nil, "replay this delivery (repeat for more; excludes --status, --since and --event)")
	f.StringVar(&o.mode, "mode", delivery.ReplayCurrent.String(), "current (the webhook's present settings) or original (those of when each delivery was scheduled)")
	f.BoolVar(&o.dryRun, "dry-run", false, "count what would be replayed, and replay nothing")
	f.StringVar(&o.requestID, "request-id", "", "the request id of an earlier run to finish: what it replayed is not replayed twice (default: a new one)")
	return cmd
}

// replayOptions are the flags of hookd replay.
type replayOptions struct {
	tenant, community, webhookID, status, since, eventName, mode, requestID string
	deliveryIDs                                                             []string
	dryRun                                                                  bool
}

// replayCommand runs `hookd replay`: it asks for the deliveries of a community, or of one of its
// webhooks, to be sent again, by id or by status, age and event name. It only appends to the log,
// so it works whether or not serve runs; a serve on the same log sends the replays.
func replayCommand(ctx context.Context, c *cli, o replayOptions) error {
	cmd, err := replayOf(o, time.Now())
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return runReplay(ctx, c, "replay", o.requestID, func(context.Context, *node) (command.Replay, error) { return cmd, nil })
}

// runReplay runs the replay use case, as `hookd replay` and `hookd deliveries retry` do: it opens
// the data directory, brings the read models up to the log's end, takes the command from build,
// checks its scope, replays with a progress bar on stderr and prints the result. name prefixes
// its errors; requestID is an earlier run's to finish, or empty for a new one.
func runReplay(ctx context.Context, c *cli, name, requestID string, build func(context.Context, *node) (command.Replay, error)) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	stdout, stderr := c.stdout, c.stderr
	caller := cliCaller
	caller.RequestID = requestID
	if caller.RequestID == "" {
		caller.RequestID = uuid.NewString()
	}

	n, err := openNode(ctx, cfg, cfg.logger(stderr))
	if err != nil {
		return err
	}
	defer n.close()
	// The selection reads the deliveries read model, which only a running serve keeps current.
	if err := n.catchUp(ctx); err != nil {
		return err
	}
	cmd, err := build(ctx, n)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := checkReplayScope(ctx, n, cmd); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var bar *progressbar.ProgressBar
	cmd.Progress = func(done, total int) {
		if bar == nil {
			description := "replaying"
			if cmd.DryRun {
				description = "checking"
			}
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(stderr),
				progressbar.OptionSetDescription(description),
				// No rate: the library's, a rolling average of half-second windows, says "0/hr"
				// on a replay that takes less.
				progressbar.OptionShowCount(),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		_ = bar.Set(done)
	}
	res, err := n.replays.Replay(ctx, cmd, caller)
	if bar != nil {
		_ = bar.Finish()
	}
	var invalid *webhook.ValidationError
	switch {
	case errors.As(err, &invalid), errors.Is(err, webhook.ErrNotFound):
		// Refused before anything was appended.
		return fmt.Errorf("%s: %w", name, err)
	case err != nil:
		return fmt.Errorf("%s (request %s; run again with --request-id %s to finish without replaying twice): %w",
			name, caller.RequestID, caller.RequestID, err)
	}
	gone := ""
	if res.WebhookGone > 0 {
		gone = fmt.Sprintf("; left %d alone whose webhook was deleted", res.WebhookGone)
	}
	if cmd.DryRun {
		fmt.Fprintf(stdout, "dry run: would replay %s in mode %s; would skip %d still in flight%s; nothing was appended\n",
			deliveries(res.Replayed), cmd.Mode, res.Skipped, gone)
		return nil
	}
	fmt.Fprintf(stdout, "replayed %s in mode %s; skipped %d still in flight%s (request %s)\n",
		deliveries(res.Replayed), cmd.Mode, res.Skipped, gone, caller.RequestID)
	return nil
}

func deliveries(n int) string {
	if n == 1 {
		return "1 delivery"
	}
	return fmt.Sprintf("%d deliveries", n)
}

// replayOf turns the flags into the command, naming the flag at fault. Like the API, it wants a
// filter or ids: a replay of every delivery a community ever had is seldom meant.
func replayOf(o replayOptions, now time.Time) (command.Replay, error) {
	var errs []error
	if o.tenant == "" || o.community == "" {
		errs = append(errs, errors.New("--tenant and --community are required"))
	}
	cmd := command.Replay{TenantID: o.tenant, CommunityID: o.community, WebhookID: o.webhookID, DryRun: o.dryRun}
	var err error
	if cmd.Mode, err = delivery.ParseReplayMode(o.mode); err != nil {
		errs = append(errs, fmt.Errorf("--mode: %w", err))
	}
	if o.status != "" {
		if cmd.Filter.Status, err = delivery.ParseStatus(o.status); err != nil {
			errs = append(errs, fmt.Errorf("--status: %w", err))
		}
	}
	if o.since != "" {
		since, err := parseSince(o.since)
		if err != nil {
			errs = append(errs, err)
		} else {
			cmd.Filter.From = now.Add(-since)
		}
	}
	cmd.Filter.EventName = o.eventName
	switch {
	case len(o.deliveryIDs) > 0 && (o.status != "" || o.since != "" || o.eventName != ""):
		errs = append(errs, errors.New("--delivery excludes --status, --since and --event: give ids or a filter"))
	case len(o.deliveryIDs) > 0:
		cmd.DeliveryIDs = o.deliveryIDs
	case cmd.Filter.IsZero() && len(errs) == 0:
		errs = append(errs, errors.New("give at least one of --status, --since, --event and --delivery"))
	}
	return cmd, errors.Join(errs...)
}

// parseSince reads --since: whole days ("7d") or a Go duration ("36h", "90m").
func parseSince(s string) (time.Duration, error) {
	d, err := parseDays(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("--since %q: give days such as 7d, or a Go duration such as 36h, 90m or 1h30m", s)
	case d < 0:
		return 0, errors.New("--since must not be negative")
	}
	return d, nil
}

// checkReplayScope refuses a replay whose tenant and community have neither a webhook nor a
// delivery in the read models, or whose ids name no delivery there: a typo there would otherwise
// replay nothing and say so as if it were true. Ids of deliveries that retention removed are named
// as expired. The webhook is checked by the replay itself.
func checkReplayScope(ctx context.Context, n *node, cmd command.Replay) error {
	expired, err := n.deliveryView.Expired(ctx, cmd.TenantID, cmd.CommunityID, cmd.WebhookID, cmd.DeliveryIDs)
	if err != nil {
		return err
	}
	var gone []string
	for _, id := range cmd.DeliveryIDs {
		if expired[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		return &delivery.ExpiredError{IDs: gone, Retention: n.cfg.DeliveryRetention}
	}
	for _, id := range cmd.DeliveryIDs {
		d, err := n.deliveryView.Get(ctx, cmd.TenantID, cmd.CommunityID, id)
		if errors.Is(err, delivery.ErrNotFound) || err == nil && cmd.WebhookID != "" && d.WebhookID != cmd.WebhookID {
			return fmt.Errorf("--delivery %s: no such delivery in tenant %q community %q%s", id, cmd.TenantID, cmd.CommunityID, ofWebhook(cmd.WebhookID))
		}
		if err != nil {
			return err
		}
	}
	if cmd.WebhookID != "" || len(cmd.DeliveryIDs) > 0 {
		return nil
	}
	hooks, err := n.webhookView.Fetch(ctx, webhookview.FetchQuery{TenantID: cmd.TenantID, CommunityID: cmd.CommunityID, PageSize: 1})
	if err != nil || hooks.Total > 0 {
		return err
	}
	past, err := n.deliveryView.Fetch(ctx, deliveryview.FetchQuery{TenantID: cmd.TenantID, CommunityID: cmd.CommunityID, PageSize: 1})
	if err != nil || past.Total > 0 {
		return err
	}
	return fmt.Errorf("tenant %q community %q has no webhook and no delivery: check --tenant and --community", cmd.TenantID, cmd.CommunityID)
}

func ofWebhook(id string) string {
	if id == "" {
		return ""
	}
	return " webhook " + id
}
