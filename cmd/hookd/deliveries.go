package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/deliveryview"
)

// deliverySelector answers the replay command's selections from the deliveries read model. The
// port is the application's and the read model a projection's, which only the composition root sees
// both of.
type deliverySelector struct{ view *deliveryview.View }

func (s deliverySelector) SelectDeliveries(ctx context.Context, tenantID, communityID, webhookID string, f command.DeliveryFilter, index, size int) ([]string, int, error) {
	page, err := s.view.Fetch(ctx, deliveryview.FetchQuery{
		TenantID: tenantID, CommunityID: communityID, WebhookID: webhookID,
		Status: f.Status, EventName: f.EventName, From: f.From, To: f.To, PageIndex: index, PageSize: size,
	})
	if err != nil {
		return nil, 0, err
	}
	ids := make([]string, len(page.Items))
	for i, d := range page.Items {
		ids[i] = d.ID
	}
	return ids, page.Total, nil
}

// The deliveries commands read the deliveries read model of the data directory, brought up to the
// end of the log first, as license list does: they work beside a running serve, and without one.
// The API's deliveries/fetch shows the same, but needs 1Kosmos headers.

// deliveriesListOptions are the flags of hookd deliveries list.
type deliveriesListOptions struct {
	tenant, community, webhook, status string
	page, pageSize                     int
	json                               bool
}

func newDeliveriesListCommand(c *cli) *cobra.Command {
	var o deliveriesListOptions
	cmd := &cobra.Command{
		Use:   "list --tenant T --community C --webhook W [--status S]",
		Short: "List a webhook's deliveries, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := o.query()
			if err != nil {
				return fmt.Errorf("deliveries list: %w", err)
			}
			return withCaughtUpNode(cmd.Context(), c, func(n *node) error {
				return listDeliveries(cmd.Context(), n, q, o.json, c.stdout)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.tenant, "tenant", "", "the tenant (required)")
	f.StringVar(&o.community, "community", "", "the community (required)")
	f.StringVar(&o.webhook, "webhook", "", "the webhook (required)")
	f.StringVar(&o.status, "status", "", "only deliveries that stand there: scheduled, succeeded or failed")
	f.IntVar(&o.page, "page", 0, "the page, from 0")
	f.IntVar(&o.pageSize, "page-size", 25, "deliveries per page, 1 to 100")
	f.BoolVar(&o.json, "json", false, "print JSON, for scripts")
	return cmd
}

func (o deliveriesListOptions) query() (deliveryview.FetchQuery, error) {
	var errs []error
	if o.tenant == "" || o.community == "" || o.webhook == "" {
		errs = append(errs, errors.New("--tenant, --community and --webhook are required"))
	}
	q := deliveryview.FetchQuery{TenantID: o.tenant, CommunityID: o.community, WebhookID: o.webhook,
		PageIndex: o.page, PageSize: o.pageSize}
	if o.status != "" {
		var err error
		if q.Status, err = delivery.ParseStatus(o.status); err != nil {
			errs = append(errs, fmt.Errorf("--status: %w", err))
		}
	}
	if o.page < 0 {
		errs = append(errs, errors.New("--page must be 0 or more"))
	}
	if o.pageSize < 1 || o.pageSize > 100 {
		errs = append(errs, errors.New("--page-size must be from 1 to 100"))
	}
	return q, errors.Join(errs...)
}

func newDeliveriesShowCommand(c *cli) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one delivery with every attempt",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCaughtUpNode(cmd.Context(), c, func(n *node) error {
				return showDelivery(cmd.Context(), n, args[0], asJSON, c.stdout)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, for scripts")
	return cmd
}

// deliveriesRetryOptions are the flags of hookd deliveries retry.
type deliveriesRetryOptions struct {
	tenant, community, webhook, status, mode, requestID string
	dryRun                                              bool
}

func newDeliveriesRetryCommand(c *cli) *cobra.Command {
	var o deliveriesRetryOptions
	cmd := &cobra.Command{
		Use:   "retry (ID... | --tenant T --community C --webhook W --status S)",
		Short: "Send deliveries again: by id, or a webhook's by status",
		Long: `Ask for deliveries to be sent again, through the same replay use case as the API's
POST .../webhook/{id}/replay: the deliveries named by id (of one tenant and community), or the
deliveries of one webhook that stand at --status, as deliveries list --status shows them.
Deliveries still in flight are skipped; --dry-run only counts. It only appends to the log, whether or
not serve runs: a serve on the same log sends the deliveries, and each new attempt joins the trace of
the delivery's publication when tracing is on.`,
		Example: `  hookd deliveries retry 0b5e6a4c-0f9b-5d2e-9c61-2f1f5a7d9e31
  hookd deliveries retry --tenant t1 --community c1 --webhook 6650f1b2c3d4e5f6a7b8c9d0 --status failed --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			build, err := o.replay(args)
			if err != nil {
				return fmt.Errorf("deliveries retry: %w", err)
			}
			return runReplay(cmd.Context(), c, "deliveries retry", o.requestID, build)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.tenant, "tenant", "", "with --community, --webhook and --status: retry that webhook's deliveries instead of ids")
	f.StringVar(&o.community, "community", "", "the community")
	f.StringVar(&o.webhook, "webhook", "", "the webhook")
	f.StringVar(&o.status, "status", "", "retry the webhook's deliveries that stand there: failed, succeeded or scheduled (those in flight are skipped)")
	f.StringVar(&o.mode, "mode", delivery.ReplayCurrent.String(), "current (the webhook's present settings) or original (those of when each delivery was scheduled)")
	f.BoolVar(&o.dryRun, "dry-run", false, "count what would be retried, and retry nothing")
	f.StringVar(&o.requestID, "request-id", "", "the request id of an earlier run to finish: what it retried is not retried twice (default: a new one)")
	return cmd
}

// replay checks the arguments and returns what builds the replay command once the data directory
// is open: ids are looked up there for their tenant and community.
func (o deliveriesRetryOptions) replay(ids []string) (func(context.Context, *node) (command.Replay, error), error) {
	var errs []error
	mode, err := delivery.ParseReplayMode(o.mode)
	if err != nil {
		errs = append(errs, fmt.Errorf("--mode: %w", err))
	}
	cmd := command.Replay{Mode: mode, DryRun: o.dryRun}
	byFilter := o.tenant != "" || o.community != "" || o.webhook != "" || o.status != ""
	switch {
	case len(ids) > 0 && byFilter:
		errs = append(errs, errors.New("give ids, or --tenant, --community, --webhook and --status; not both"))
	case len(ids) > command.MaxReplayIDs:
		errs = append(errs, fmt.Errorf("at most %d ids at once", command.MaxReplayIDs))
	case len(ids) > 0:
		cmd.DeliveryIDs = ids
	case !byFilter:
		errs = append(errs, errors.New("give the ids of the deliveries to retry, or --tenant, --community, --webhook and --status"))
	case o.tenant == "" || o.community == "" || o.webhook == "" || o.status == "":
		errs = append(errs, errors.New("--tenant, --community, --webhook and --status go together"))
	default:
		cmd.TenantID, cmd.CommunityID, cmd.WebhookID = o.tenant, o.community, o.webhook
		if cmd.Filter.Status, err = delivery.ParseStatus(o.status); err != nil {
			errs = append(errs, fmt.Errorf("--status: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return func(ctx context.Context, n *node) (command.Replay, error) {
		if cmd.DeliveryIDs == nil {
			return cmd, nil
		}
		return withScopeOf(ctx, n, cmd)
	}, nil
}

// withScopeOf gives a replay by ids the tenant and community of its deliveries, which must share
// them (the use case, like the API, replays within one community), and their webhook when they
// share that too.
func withScopeOf(ctx context.Context, n *node, cmd command.Replay) (command.Replay, error) {
	for i, id := range cmd.DeliveryIDs {
		d, err := n.deliveryView.Find(ctx, id)
		if errors.Is(err, delivery.ErrNotFound) {
			return cmd, fmt.Errorf("no delivery %s", id)
		}
		if err != nil {
			return cmd, err
		}
		if i == 0 {
			cmd.TenantID, cmd.CommunityID, cmd.WebhookID = d.TenantID, d.CommunityID, d.WebhookID
			continue
		}
		if d.TenantID != cmd.TenantID || d.CommunityID != cmd.CommunityID {
			return cmd, fmt.Errorf("delivery %s is tenant %q community %q's, %s is tenant %q community %q's: retry them apart",
				id, d.TenantID, d.CommunityID, cmd.DeliveryIDs[0], cmd.TenantID, cmd.CommunityID)
		}
		if d.WebhookID != cmd.WebhookID {
			cmd.WebhookID = ""
		}
	}
	return cmd, nil
}

// withCaughtUpNode is withNode with the read models brought up to the end of the log first.
func withCaughtUpNode(ctx context.Context, c *cli, f func(*node) error) error {
	return withNode(ctx, c, func(n *node) error {
		if err := n.catchUp(ctx); err != nil {
			return err
		}
		return f(n)
	})
}

func listDeliveries(ctx context.Context, n *node, q deliveryview.FetchQuery, asJSON bool, stdout io.Writer) error {
	page, err := n.deliveryView.Fetch(ctx, q)
	if err != nil {
		return err
	}
	if page.Total == 0 {
		// A webhook deleted since keeps its deliveries; one that never was is a typo.
		_, err := n.webhookView.Get(ctx, q.TenantID, q.CommunityID, q.WebhookID)
		if errors.Is(err, webhook.ErrNotFound) {
			return fmt.Errorf("deliveries list: tenant %q community %q has no webhook %s", q.TenantID, q.CommunityID, q.WebhookID)
		}
		if err != nil {
			return err
		}
	}
	if asJSON {
		out := deliveryPageJSON{Total: page.Total, Deliveries: make([]deliveryJSON, len(page.Items))}
		for i, d := range page.Items {
			out.Deliveries[i] = toDeliveryJSON(d)
		}
		return writeJSON(stdout, out)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tEVENT\tSTATUS\tATTEMPTS\tLAST ATTEMPT\tSCHEDULED")
	for _, d := range page.Items {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.EventName, d.Status, d.Attempts,
			lastAttemptText(d.LastAttempt), d.ScheduledAt.UTC().Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	first := q.PageIndex*q.PageSize + 1
	last := first + len(page.Items) - 1
	switch {
	case page.Total == 0:
		fmt.Fprintln(stdout, "no deliveries")
	case len(page.Items) == 0:
		fmt.Fprintf(stdout, "page %d is past the last; %d deliveries in all\n", q.PageIndex, page.Total)
	case last < page.Total:
		fmt.Fprintf(stdout, "%d-%d of %d, newest first; --page %d for more\n", first, last, page.Total, q.PageIndex+1)
	default:
		fmt.Fprintf(stdout, "%d-%d of %d, newest first\n", first, last, page.Total)
	}
	return nil
}

func showDelivery(ctx context.Context, n *node, id string, asJSON bool, stdout io.Writer) error {
	d, err := n.deliveryView.Find(ctx, id)
	if errors.Is(err, delivery.ErrNotFound) {
		return fmt.Errorf("deliveries show: no delivery %s", id)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, toDeliveryJSON(d))
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "delivery\t%s\n", d.ID)
	fmt.Fprintf(w, "webhook\t%s (tenant %s, community %s)\n", d.WebhookID, d.TenantID, d.CommunityID)
	fmt.Fprintf(w, "event\t%s %s\n", d.EventName, d.EventID)
	fmt.Fprintf(w, "status\t%s after %s\n", d.Status, attempts(d.Attempts))
	fmt.Fprintf(w, "scheduled\t%s\n", d.ScheduledAt.UTC().Format(time.RFC3339Nano))
	if !d.NextDueAt.IsZero() {
		fmt.Fprintf(w, "next attempt\t%s\n", d.NextDueAt.UTC().Format(time.RFC3339Nano))
	}
	if d.ParkReason != "" {
		fmt.Fprintf(w, "parked\t%s\n", d.ParkReason)
	}
	if d.WaitingFor != "" {
		fmt.Fprintf(w, "waiting for\t%s\n", d.WaitingFor)
	}
	if !d.ReplayMode.IsZero() {
		fmt.Fprintf(w, "replayed\tin mode %s\n", d.ReplayMode)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(d.AttemptLog) == 0 {
		fmt.Fprintln(stdout, "\nno attempt yet")
		return nil
	}
	fmt.Fprintln(stdout)
	w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "#\tAT\tRESULT\tDURATION\tRESPONSE")
	for _, a := range d.AttemptLog {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", a.Number, a.At.UTC().Format(time.RFC3339Nano),
			attemptResult(a.Status, a.ErrorClass), time.Duration(a.DurationMs)*time.Millisecond,
			strconv.Quote(a.ResponseExcerpt))
	}
	return w.Flush()
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// attemptResult is an attempt's HTTP status, or its error class when no response came.
func attemptResult(status int, errorClass string) string {
	switch {
	case status != 0 && errorClass != "":
		return fmt.Sprintf("%d %s", status, errorClass)
	case status != 0:
		return strconv.Itoa(status)
	case errorClass != "":
		return errorClass
	}
	return "no response"
}

func lastAttemptText(a deliveryview.LastAttempt) string {
	if a.At.IsZero() {
		return "-"
	}
	return attemptResult(a.Status, a.ErrorClass) + " at " + a.At.UTC().Format(time.RFC3339)
}

// deliveryPageJSON is deliveries list --json.
type deliveryPageJSON struct {
	Total      int            `json:"total"`
	Deliveries []deliveryJSON `json:"deliveries"`
}

// deliveryJSON is a delivery as --json prints it.
type deliveryJSON struct {
	ID          string        `json:"id"`
	WebhookID   string        `json:"webhookId"`
	TenantID    string        `json:"tenantId"`
	CommunityID string        `json:"communityId"`
	EventID     string        `json:"eventId"`
	EventName   string        `json:"eventName"`
	Status      string        `json:"status"`
	Attempts    int           `json:"attempts"`
	ScheduledAt time.Time     `json:"scheduledAt"`
	NextDueAt   *time.Time    `json:"nextDueAt,omitempty"`
	WaitingFor  string        `json:"waitingFor,omitempty"`
	ReplayMode  string        `json:"replayMode,omitempty"`
	ParkReason  string        `json:"parkReason,omitempty"`
	AttemptLog  []attemptJSON `json:"attemptLog"`
}

type attemptJSON struct {
	Number          int       `json:"number"`
	At              time.Time `json:"at"`
	Status          int       `json:"status"`
	ErrorClass      string    `json:"errorClass,omitempty"`
	DurationMs      int64     `json:"durationMs"`
	ResponseExcerpt string    `json:"responseExcerpt,omitempty"`
}

func toDeliveryJSON(d deliveryview.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, WebhookID: d.WebhookID, TenantID: d.TenantID, CommunityID: d.CommunityID,
		EventID: d.EventID, EventName: d.EventName, Status: d.Status.String(), Attempts: d.Attempts,
		ScheduledAt: d.ScheduledAt.UTC(), ParkReason: d.ParkReason, WaitingFor: d.WaitingFor, AttemptLog: make([]attemptJSON, len(d.AttemptLog))}
	if !d.NextDueAt.IsZero() {
		next := d.NextDueAt.UTC()
		out.NextDueAt = &next
	}
	if !d.ReplayMode.IsZero() {
		out.ReplayMode = d.ReplayMode.String()
	}
	for i, a := range d.AttemptLog {
		out.AttemptLog[i] = attemptJSON{Number: a.Number, At: a.At.UTC(), Status: a.Status, ErrorClass: a.ErrorClass,
			DurationMs: a.DurationMs, ResponseExcerpt: a.ResponseExcerpt}
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
