package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/application/retention"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/deliveryview"
	"github.com/hookd/hookd/projections/webhookview"
)

// startRetention starts serve's retention sweeper when HOOKD_DELIVERY_RETENTION is not 0, and
// returns a channel closed once it has stopped (after ctx ends), or a closed one when none runs.
// Every node sweeps: each has read models of its own, and deleting a stream another node deleted
// already is harmless.
func startRetention(ctx context.Context, n *node, cfg config, deliveries *deliveryPipeline, log *slog.Logger) (<-chan struct{}, error) {
	done := make(chan struct{})
	if cfg.DeliveryRetention == 0 {
		close(done)
		return done, nil
	}
	pruner, ok := n.backend.(eventstore.Pruner)
	if !ok {
		close(done)
		return done, errors.New("HOOKD_DELIVERY_RETENTION: this event store cannot delete streams")
	}
	if err := n.deliveryView.PrepareRetention(ctx); err != nil {
		close(done)
		return done, err
	}
	var runners []*projections.Runner
	for i, p := range n.projections {
		if p == projections.Projection(n.deliveryView) {
			runners = append(runners, n.runners[i])
		}
	}
	if deliveries != nil && deliveries.dispatch != nil && deliveries.leader == nil {
		runners = append(runners, deliveries.dispatch)
	}
	sweeper, err := retention.New(retention.Config{
		Retention:  cfg.DeliveryRetention,
		Log:        prunerLog{Pruner: pruner, Store: n.store},
		Deliveries: retentionView{n.deliveryView},
		Endpoints:  retentionEndpoints{n.webhookView, n.webhooks},
		Settled: func(context.Context) (eventlog.Position, error) {
			// The least of the positions the deliveries read model and this node's dispatcher
			// reached: a published event beyond it may still get deliveries.
			var settled eventlog.Position
			for i, r := range runners {
				if p := r.Position(); i == 0 || p.Before(settled) {
					settled = p
				}
			}
			return settled, nil
		},
		Clock:  n.clock,
		Logger: log.With("component", "retention"),
	})
	if err != nil {
		close(done)
		return done, err
	}
	go func() {
		defer close(done)
		_ = sweeper.Run(ctx)
	}()
	return done, nil
}

// prunerLog is the log as retention sees it: deletes through the store's Pruner, reads through
// the store.
type prunerLog struct {
	eventstore.Pruner
	eventstore.Store
}

// retentionView maps the deliveries read model onto retention's port.
type retentionView struct{ v *deliveryview.View }

func (r retentionView) Expiring(ctx context.Context, cutoff time.Time, after int64, limit int) ([]retention.Delivery, int64, bool, error) {
	found, next, done, err := r.v.Expiring(ctx, cutoff, after, limit)
	out := make([]retention.Delivery, len(found))
	for i, e := range found {
		out[i] = retention.Delivery{ID: e.ID, TenantID: e.TenantID, CommunityID: e.CommunityID, WebhookID: e.WebhookID,
			EventID: e.EventID, Version: e.Version, Position: e.Position, UpdatedAt: e.UpdatedAt}
	}
	return out, next, done, err
}

func (r retentionView) Forget(ctx context.Context, gone []retention.Delivery, at time.Time) error {
	rows := make([]deliveryview.Expiring, len(gone))
	for i, d := range gone {
		rows[i] = deliveryview.Expiring{ID: d.ID, TenantID: d.TenantID, CommunityID: d.CommunityID, WebhookID: d.WebhookID,
			EventID: d.EventID, Version: d.Version}
	}
	return r.v.Forget(ctx, rows, at)
}

func (r retentionView) HasDeliveriesOf(ctx context.Context, eventID string) (bool, error) {
	return r.v.HasDeliveriesOf(ctx, eventID)
}

func (r retentionView) ForgetExpiredBefore(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	return r.v.ForgetExpiredBefore(ctx, cutoff, limit)
}

// retentionEndpoints maps the webhooks read model and the webhook commands onto retention's port.
type retentionEndpoints struct {
	v *webhookview.View
	*command.Webhooks
}

func (r retentionEndpoints) Carrying(ctx context.Context, tenantID, communityID, id string) (retention.Carry, bool, error) {
	c, found, err := r.v.Carrying(ctx, tenantID, communityID, id)
	return retention.Carry{Carried: c.Carried, Marked: c.Marked, From: c.From, AtMark: c.AtMark}, found, err
}
