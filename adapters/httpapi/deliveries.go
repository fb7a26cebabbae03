package httpapi

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/deliveryview"
)

// maxReplaySelection bounds the deliveries one replay by filter may select, so that one request's
// work stays bounded; `hookd replay` has no such bound.
const maxReplaySelection = 10_000

// DeliveryReader answers delivery queries from the read model.
type DeliveryReader interface {
	Fetch(ctx context.Context, q deliveryview.FetchQuery) (deliveryview.Page, error)
}

type deliveryFetchBody struct {
	PIndex    *int    `json:"pIndex"`
	PSize     *int    `json:"pSize"`
	Status    *string `json:"status"`
	EventName *string `json:"eventName"`
	From      *string `json:"from"`
	To        *string `json:"to"`
}

// replayBody names deliveries by id, or else selects them by a filter (status, eventName, from, to).
type replayBody struct {
	DeliveryIDs *[]string `json:"deliveryIds"`
	Status      *string   `json:"status"`
	EventName   *string   `json:"eventName"`
	From        *string   `json:"from"`
	To          *string   `json:"to"`
	Mode        *string   `json:"mode"`
}

// deliveryJSON is a delivery of the delivery log. ID is the webhook-id header receivers see.
type deliveryJSON struct {
	ID          string        `json:"id"`
	EventID     string        `json:"eventId"`
	EventName   string        `json:"eventName"`
	Status      string        `json:"status"`
	Attempts    []attemptJSON `json:"attempts"`
	ScheduledAt time.Time     `json:"scheduledAt"`
	UpdatedAt   time.Time     `json:"updatedAt"`
	// NextDueAt is there while the delivery is scheduled.
	NextDueAt *time.Time `json:"nextDueAt,omitempty"`
	// WaitingFor says why a scheduled delivery waits until nextDueAt without an attempt:
	// "circuit_open", its endpoint's circuit is open.
	WaitingFor string `json:"waitingFor,omitempty"`
	// ReplayMode is there once the delivery was replayed: the latest replay's.
	ReplayMode string `json:"replayMode,omitempty"`
	// ParkReason is there while the delivery is parked (status failed): why.
	ParkReason string `json:"parkReason,omitempty"`
}

// attemptJSON is one attempt: Status 0 means no response came, and ErrorClass says why.
type attemptJSON struct {
	Number          int       `json:"number"`
	Status          int       `json:"status"`
	ErrorClass      string    `json:"errorClass,omitempty"`
	DurationMs      int64     `json:"durationMs"`
	ResponseExcerpt string    `json:"responseExcerpt"`
	At              time.Time `json:"at"`
}

type deliveryPageJSON struct {
	Page pageJSON       `json:"page"`
	Data []deliveryJSON `json:"data"`
}

type replayJSON struct {
	Replayed int      `json:"replayed"`
	Skipped  int      `json:"skipped"`
	NotFound []string `json:"notFound"`
}

func toDeliveryJSON(d deliveryview.Delivery) deliveryJSON {
	out := deliveryJSON{
		ID: d.ID, EventID: d.EventID, EventName: d.EventName, Status: d.Status.String(),
		Attempts:    make([]attemptJSON, len(d.AttemptLog)),
		ScheduledAt: d.ScheduledAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), ReplayMode: d.ReplayMode.String(),
		ParkReason: d.ParkReason,
		WaitingFor: d.WaitingFor,
	}
	if !d.NextDueAt.IsZero() {
		due := d.NextDueAt.UTC()
		out.NextDueAt = &due
	}
	for i, a := range d.AttemptLog {
		out.Attempts[i] = attemptJSON{
			Number: a.Number, Status: a.Status, ErrorClass: a.ErrorClass, DurationMs: a.DurationMs,
			ResponseExcerpt: a.ResponseExcerpt, At: a.At.UTC(),
		}
	}
	return out
}

// fetchDeliveries answers a page of a webhook's delivery log, newest scheduled first.
func (s *server) fetchDeliveries(c *fiber.Ctx) error {
	tenantID, communityID, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	var body deliveryFetchBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	q := deliveryview.FetchQuery{TenantID: tenantID, CommunityID: communityID, WebhookID: id}
	if q.PageIndex, q.PageSize, err = pageOf(body.PIndex, body.PSize, defaultPageSize); err != nil {
		return err
	}
	f, err := deliveryFilterOf(body.Status, body.EventName, body.From, body.To)
	if err != nil {
		return err
	}
	q.Status, q.EventName, q.From, q.To = f.Status, f.EventName, f.From, f.To
	// The webhook must be the tenant and community's and not deleted, as for every webhook endpoint;
	// the deliveries read model alone would answer an empty page.
	if _, err := s.WebhookView.Get(c.UserContext(), tenantID, communityID, id); err != nil {
		return err
	}
	page, err := s.Deliveries.Fetch(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := deliveryPageJSON{Page: pageJSON{Index: q.PageIndex, Total: page.Total, Size: q.PageSize},
		Data: make([]deliveryJSON, len(page.Items))}
	for i, d := range page.Items {
		out.Data[i] = toDeliveryJSON(d)
	}
	return c.JSON(out)
}

// replayDeliveries asks for a webhook's deliveries to be sent again, and answers 202 once the
// requests are in the log and the read models show them. The delivery pipeline sends them.
func (s *server) replayDeliveries(c *fiber.Ctx) error {
	tenantID, communityID, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	var body replayBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	f, err := deliveryFilterOf(body.Status, body.EventName, body.From, body.To)
	if err != nil {
		return err
	}
	mode := delivery.ReplayCurrent
	if body.Mode != nil {
		if mode, err = delivery.ParseReplayMode(*body.Mode); err != nil {
			return badRequest(`mode must be "current" or "original"`)
		}
	}
	cmd := command.Replay{
		TenantID: tenantID, CommunityID: communityID, WebhookID: id, Filter: f, Mode: mode, Limit: maxReplaySelection,
	}
	if body.DeliveryIDs != nil {
		cmd.DeliveryIDs = *body.DeliveryIDs
	}
	res, err := s.Replays.Replay(c.UserContext(), cmd, principalOf(c).caller())
	if err != nil {
		return err
	}
	s.awaitProjection(c, res.Result)
	return c.Status(fiber.StatusAccepted).JSON(replayJSON{Replayed: res.Replayed, Skipped: res.Skipped, NotFound: res.NotFound})
}

// deliveryFilterOf reads the filter fields of a delivery fetch or replay; each one given must be
// valid, an empty string included.
func deliveryFilterOf(status, eventName, from, to *string) (command.DeliveryFilter, error) {
	var f command.DeliveryFilter
	if status != nil {
		parsed, err := delivery.ParseStatus(*status)
		if err != nil {
			return f, badRequest("status must be scheduled, succeeded or failed")
		}
		f.Status = parsed
	}
	if eventName != nil {
		if !webhook.ValidEventName(*eventName) {
			return f, badRequest("eventName must be 1 to 128 letters, digits, '_', '.' or '-'")
		}
		f.EventName = *eventName
	}
	for _, t := range []struct {
		name string
		raw  *string
		dst  *time.Time
	}{{"from", from, &f.From}, {"to", to, &f.To}} {
		if t.raw == nil {
			continue
		}
		parsed, err := time.Parse(time.RFC3339, *t.raw)
		if err != nil || parsed.IsZero() {
			return f, badRequest(t.name + " must be an RFC 3339 time, such as 2026-01-02T15:04:05Z")
		}
		*t.dst = parsed
	}
	return f, f.Validate()
}
