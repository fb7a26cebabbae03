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
		ScheduledAt: d.ScheduledAt.UTC(), WaitingFor: d.WaitingFor, AttemptLog: make([]attemptJSON, len(d.AttemptLog))}
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
