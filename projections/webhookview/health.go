package webhookview

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

// Each webhook's endpoint health (webhook.Health) is folded from the log: every DeliveryAttempted
// that names the webhook adds an outcome, its circuit events set its circuit, enabling it starts it
// afresh, deleting it drops it, and a carried pair (webhook.HealthMarked, HealthCarried) brings
// back what retention removes. It lives in a table of its own, one JSON row per webhook, written
// once per batch, so that an attempt neither moves the webhook's version nor rewrites its row, and
// the decoded-webhook cache stays valid. A rebuild folds the same events in the same order and
// gets the same rows: no configuration enters the fold.

// healthRow is a webhook's row of the health table: its health, and how far carrying it into the
// log has gone.
type healthRow struct {
	webhook.Health
	Carry *Carry `json:"carry,omitempty"`
}

// Carry is how far carrying a webhook's health into the log has gone (webhook/carry.go): the last
// pair carried and the last one marked, and while the latter is not carried yet, the health at its
// marker and the attempts folded since.
type Carry struct {
	// Carried is the last pair carried; the health holds every attempt before From, its marker's
	// position, whether or not the log still does.
	Carried uint64            `json:"carried,omitempty"`
	From    eventlog.Position `json:"from,omitzero"`
	// Marked is the last pair marked, at MarkedAt.
	Marked   uint64            `json:"marked,omitempty"`
	MarkedAt eventlog.Position `json:"markedAt,omitzero"`
	// AtMark is the health's attempts' part at the marker of pair Marked, while it is not carried
	// and no enabling has started the health afresh since; Since is what the attempts since gave.
	AtMark *webhook.Health `json:"atMark,omitempty"`
	Since  *webhook.Health `json:"since,omitempty"`
}

// Pending reports whether pair Marked awaits its carrier: AtMark is what it should carry.
func (c Carry) Pending() bool { return c.AtMark != nil }

// healthOf returns the health row the batch is building for the webhook, read from the table first.
func (w *writer) healthOf(ctx context.Context, id string) (*healthRow, error) {
	if h, ok := w.health[id]; ok {
		if h == nil {
			h = &healthRow{}
			w.health[id] = h
		}
		return h, nil
	}
	stmt, err := w.stmt(ctx, qLoadHealth)
	if err != nil {
		return nil, err
	}
	h := &healthRow{}
	var data string
	switch err := stmt.QueryRowContext(ctx, id).Scan(&data); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal([]byte(data), h); err != nil {
			return nil, fmt.Errorf("stored health of webhook %s: %w", id, err)
		}
	}
	w.health[id] = h
	return h, nil
}

// record adds an attempt to the row's health, and to what is folded apart while a carry is pending.
func (h *healthRow) record(e delivery.Attempted) {
	h.Health = h.Health.Record(e.At, e.Success)
	if h.Carry != nil && h.Carry.Pending() {
		*h.Carry.Since = h.Carry.Since.Record(e.At, e.Success)
	}
}

// attempted adds an attempt to its webhook's health. Attempts recorded before they named their
// webhook, those to the platform's WEBHOOK_URL, and those to a webhook the view does not hold
// (deleted) are passed over.
func (w *writer) attempted(ctx context.Context, e delivery.Attempted) error {
	if e.WebhookID == "" {
		return nil
	}
	// A health the batch holds is that of a webhook it found, and has not removed since (a removed
	// one's is nil): its row is read once per batch rather than once per attempt, which was most of
	// the view's cost of an attempt (docs/benchmarks.md, issue 13).
	if h := w.health[e.WebhookID]; h != nil {
		h.record(e)
		return nil
	}
	if _, found, err := w.load(ctx, e.WebhookID); err != nil || !found {
		return err
	}
	h, err := w.healthOf(ctx, e.WebhookID)
	if err != nil {
		return err
	}
	h.record(e)
	return nil
}

// restart starts the webhook's health afresh, as enabling it does. The numbers of its pairs stay,
// so that a stream name is never used twice; a pending carry is dropped, since what it would carry
// no longer counts.
func (w *writer) restart(ctx context.Context, id string) error {
	h, err := w.healthOf(ctx, id)
	if err != nil {
		return err
	}
	fresh := healthRow{Carry: h.Carry}
	if c := fresh.Carry; c != nil {
		fresh.Carry = &Carry{Carried: c.Carried, From: c.From, Marked: c.Marked, MarkedAt: c.MarkedAt}
	}
	*h = fresh
	return nil
}

// marked opens a carry of the webhook's health: its attempts' part as it stands is kept, and the
// attempts from here on are folded apart too. A pair marked before is passed over.
func (w *writer) marked(ctx context.Context, r eventlog.RecordedEvent, e webhook.HealthMarked) error {
	if _, found, err := w.load(ctx, e.WebhookID); err != nil || !found {
		return err
	}
	h, err := w.healthOf(ctx, e.WebhookID)
	if err != nil {
		return err
	}
	if h.Carry == nil {
		h.Carry = &Carry{}
	}
	if e.Pair <= h.Carry.Marked {
		return nil
	}
	at := h.Health.Attempts()
	h.Carry.Marked, h.Carry.MarkedAt, h.Carry.AtMark, h.Carry.Since = e.Pair, r.Position, &at, &webhook.Health{}
	return nil
}

// carried closes the carry the webhook's last marker opened: the health becomes the one carried
// (what the attempts up to the marker gave, whether or not the log still holds them) followed by
// the attempts folded apart since. Live, that is the health the view already has. A carrier of
// another pair is passed over.
func (w *writer) carried(ctx context.Context, e webhook.HealthCarried) error {
	if _, found, err := w.load(ctx, e.WebhookID); err != nil || !found {
		return err
	}
	h, err := w.healthOf(ctx, e.WebhookID)
	if err != nil {
		return err
	}
	c := h.Carry
	if c == nil || e.Pair != c.Marked || e.Pair <= c.Carried {
		return nil
	}
	if c.Pending() {
		carried := e.Health.Attempts()
		carried.Circuit, carried.DisabledReason = h.Circuit, h.DisabledReason
		h.Health = carried.Then(*c.Since)
	}
	// Without a pending carry the health started afresh after the marker: the attempts before it
	// count no more, carried or not.
	c.Carried, c.From, c.AtMark, c.Since = e.Pair, c.MarkedAt, nil, nil
	return nil
}

// circuit applies a circuit event to the webhook's health and moves its version.
func (w *writer) circuit(ctx context.Context, r eventlog.RecordedEvent, e interface{ EventName() string }) error {
	var id string
	var c webhook.Circuit
	switch e := e.(type) {
	case webhook.CircuitOpened:
		id, c = e.WebhookID, webhook.Circuit{Open: true, OpenedAt: e.At, Until: e.Until, CoolDown: e.CoolDown}
	case webhook.CircuitClosed:
		id, c = e.WebhookID, webhook.Circuit{ClosedAt: e.At}
	}
	stored, found, err := w.load(ctx, id)
	if err != nil || !found || r.Revision <= stored.version {
		return err
	}
	h, err := w.healthOf(ctx, id)
	if err != nil {
		return err
	}
	h.Circuit = c
	return w.exec(ctx, qSetVersion, r.Revision, stored.seq)
}

// disabledFor notes why hookd disabled the webhook, in its health.
func (w *writer) disabledFor(ctx context.Context, e webhook.Disabled) error {
	if _, found, err := w.load(ctx, e.WebhookID); err != nil || !found {
		return err
	}
	h, err := w.healthOf(ctx, e.WebhookID)
	if err != nil {
		return err
	}
	h.DisabledReason = e.Reason
	return nil
}

// flushHealth writes the health the batch changed.
func (w *writer) flushHealth(ctx context.Context) error {
	for id, h := range w.health {
		if h == nil {
			if err := w.exec(ctx, qDeleteHealth, id); err != nil {
				return err
			}
			continue
		}
		data, err := json.Marshal(h)
		if err != nil {
			return err
		}
		if err := w.exec(ctx, qSaveHealth, id, string(data)); err != nil {
			return err
		}
	}
	return nil
}

// health reads a webhook's health row in the fetcher's transaction; the zero row when it has none.
func (f fetcher) health(id string) (healthRow, error) {
	var h healthRow
	stmt, err := f.stmt(`SELECT data FROM ` + tableHealth + ` WHERE id = ?`)
	if err != nil {
		return h, err
	}
	var data string
	switch err := stmt.QueryRowContext(f.ctx, id).Scan(&data); {
	case errors.Is(err, sql.ErrNoRows):
		return h, nil
	case err != nil:
		return h, err
	}
	if err := json.Unmarshal([]byte(data), &h); err != nil {
		return h, fmt.Errorf("stored health of webhook %s: %w", id, err)
	}
	return h, nil
}

// Carrying returns how far carrying the health of the webhook id, of the tenant and community
// given, into the log has gone, and whether the view holds the webhook: retention removes the
// attempts of a webhook's deliveries once a carried pair holds them (webhook/carry.go).
func (v *View) Carrying(ctx context.Context, tenantID, communityID, id string) (c Carry, found bool, err error) {
	err = v.read(ctx, tenantID, communityID, func(f fetcher) error {
		items, err := f.webhooks(`SELECT seq, id, version FROM `+tableWebhooks+` WHERE id = ? AND tenant = ? AND community = ?`,
			id, tenantID, communityID)
		if err != nil || len(items) == 0 {
			return err
		}
		found = true
		h, err := f.health(id)
		if h.Carry != nil {
			c = *h.Carry
		}
		return err
	})
	if err != nil {
		return Carry{}, false, fmt.Errorf("webhookview: carrying: %w", err)
	}
	return c, found, nil
}
