package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
)

// replayCommand runs `hookd replay`: it asks for the deliveries of a community, or of one of its
// webhooks, to be sent again, by status, age and event name. It only appends to the log, so it works
// whether or not serve runs; a serve on the same log sends the replays.
func replayCommand(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "the tenant (required)")
	community := fs.String("community", "", "the community (required)")
	webhookID := fs.String("webhook", "", "only this webhook's deliveries (default: every webhook of the community)")
	status := fs.String("status", "", "only deliveries that stand there: scheduled, succeeded or failed")
	since := fs.Duration("since", 0, "only deliveries first scheduled this long ago or later, such as 1h")
	eventName := fs.String("event", "", "only deliveries of events of this name")
	mode := fs.String("mode", delivery.ReplayCurrent.String(), "current (the webhook's present settings) or original (those of when each delivery was scheduled)")
	dryRun := fs.Bool("dry-run", false, "count what would be replayed, and replay nothing")
	requestID := fs.String("request-id", "", "the request id of an earlier run to finish: what it replayed is not replayed twice (default: a new one)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cmd, err := replayOf(*tenant, *community, *webhookID, *status, *eventName, *mode, *since, time.Now())
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	cmd.DryRun = *dryRun
	caller := cliCaller
	caller.RequestID = *requestID
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
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("deliveries"),
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
		return fmt.Errorf("replay: %w", err)
	case err != nil:
		return fmt.Errorf("replay (request %s; run again with --request-id %s to finish without replaying twice): %w",
			caller.RequestID, caller.RequestID, err)
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
// filter: a replay of every delivery a community ever had is seldom meant.
func replayOf(tenant, community, webhookID, status, eventName, mode string, since time.Duration, now time.Time) (command.Replay, error) {
	var errs []error
	if tenant == "" || community == "" {
		errs = append(errs, errors.New("--tenant and --community are required"))
	}
	cmd := command.Replay{TenantID: tenant, CommunityID: community, WebhookID: webhookID}
	var err error
	if cmd.Mode, err = delivery.ParseReplayMode(mode); err != nil {
		errs = append(errs, fmt.Errorf("--mode: %w", err))
	}
	if status != "" {
		if cmd.Filter.Status, err = delivery.ParseStatus(status); err != nil {
			errs = append(errs, fmt.Errorf("--status: %w", err))
		}
	}
	switch {
	case since < 0:
		errs = append(errs, errors.New("--since must not be negative"))
	case since > 0:
		cmd.Filter.From = now.Add(-since)
	}
	cmd.Filter.EventName = eventName
	if cmd.Filter.IsZero() && len(errs) == 0 {
		errs = append(errs, errors.New("give at least one of --status, --since and --event"))
	}
	return cmd, errors.Join(errs...)
}
