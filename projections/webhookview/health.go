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
// afresh, deleting it drops it. It lives in a table of its own, one JSON row per webhook, written
// once per batch, so that an attempt neither moves the webhook's version nor rewrites its row, and
// the decoded-webhook cache stays valid. A rebuild folds the same events in the same order and
// gets the same rows: no configuration enters the fold.

// healthOf returns the health the batch is building for the webhook, read from its row first.
func (w *writer) healthOf(ctx context.Context, id string) (*webhook.Health, error) {
	if h, ok := w.health[id]; ok {
		if h == nil {
			h = &webhook.Health{}
			w.health[id] = h
		}
		return h, nil
	}
	stmt, err := w.stmt(ctx, qLoadHealth)
	if err != nil {
		return nil, err
	}
	h := &webhook.Health{}
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
		*h = h.Record(e.At, e.Success)
		return nil
	}
	if _, found, err := w.load(ctx, e.WebhookID); err != nil || !found {
		return err
	}
	h, err := w.healthOf(ctx, e.WebhookID)
	if err != nil {
		return err
	}
	*h = h.Record(e.At, e.Success)
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

// health reads a webhook's health in the fetcher's transaction; the zero Health when it has none.
func (f fetcher) health(id string) (webhook.Health, error) {
	stmt, err := f.stmt(`SELECT data FROM ` + tableHealth + ` WHERE id = ?`)
	if err != nil {
		return webhook.Health{}, err
	}
	var data string
	var h webhook.Health
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
