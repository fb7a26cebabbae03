package command

import (
	"context"
	"strconv"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// systemCaller is the actor of what hookd decides about a webhook on its own: its circuit, and
// disabling it when its endpoint is dead.
var systemCaller = Caller{Actor: SystemActor}

// SystemActor is the actor recorded for the changes hookd makes to webhooks by itself.
const SystemActor = "hookd-system"

// OpenCircuit opens the webhook's circuit at at under breaker b (see webhook.Webhook.OpenCircuit),
// and returns the circuit as it then is. webhook.ErrCircuitOpen says another writer opened it first.
func (h *Webhooks) OpenCircuit(ctx context.Context, tenantID, communityID, id string, b webhook.Breaker, at time.Time, attempts, failures int) (webhook.Circuit, error) {
	w, err := h.load(ctx, tenantID, communityID, id)
	if err != nil {
		return webhook.Circuit{}, err
	}
	if err := w.OpenCircuit(b, at, attempts, failures); err != nil {
		return w.Circuit(), err
	}
	_, err = h.save(ctx, w, systemCaller)
	return w.Circuit(), err
}

// CloseCircuit closes the webhook's circuit after a probe succeeded at at.
func (h *Webhooks) CloseCircuit(ctx context.Context, tenantID, communityID, id string, at time.Time) error {
	w, err := h.load(ctx, tenantID, communityID, id)
	if err != nil {
		return err
	}
	if err := w.CloseCircuit(at); err != nil {
		return err
	}
	_, err = h.save(ctx, w, systemCaller)
	return err
}

// DisableFor disables the webhook because its endpoint is dead (reason webhook.DisabledFailing or
// webhook.DisabledGone), with the system as the actor. It reports whether this call disabled it.
func (h *Webhooks) DisableFor(ctx context.Context, tenantID, communityID, id, reason string, failingSince time.Time) (bool, error) {
	w, err := h.load(ctx, tenantID, communityID, id)
	if err != nil {
		return false, err
	}
	if err := w.DisableFor(reason, failingSince); err != nil {
		return false, err
	}
	res, err := h.save(ctx, w, systemCaller)
	return res.Changed, err
}

// MarkHealth appends the marker of the webhook's pair-th health carry (webhook/carry.go). The
// event's id is derived from the pair alone, so that nodes marking the same pair write it once.
func (h *Webhooks) MarkHealth(ctx context.Context, id string, pair uint64) error {
	_, err := h.streams.save(ctx, webhook.HealthStream(id, pair), -1,
		asEvents([]webhook.Event{webhook.HealthMarked{WebhookID: id, Pair: pair}}), carryCaller(pair))
	return err
}

// CarryHealth appends the carrier of the webhook's pair-th health carry, after its marker: health
// is what the webhook's attempts up to the marker gave. Nodes carrying the same pair write it once.
func (h *Webhooks) CarryHealth(ctx context.Context, id string, pair uint64, health webhook.Health) error {
	_, err := h.streams.save(ctx, webhook.HealthStream(id, pair), 0,
		asEvents([]webhook.Event{webhook.HealthCarried{WebhookID: id, Pair: pair, Health: health.Attempts()}}), carryCaller(pair))
	return err
}

// carryCaller is the system, with a request id of the pair's: the same on every node.
func carryCaller(pair uint64) Caller {
	return Caller{Actor: SystemActor, RequestID: "health-carry-" + strconv.FormatUint(pair, 10)}
}
