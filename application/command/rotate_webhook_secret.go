package command

import (
	"context"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// RotateWebhookSecret replaces a webhook's signing secret.
type RotateWebhookSecret struct {
	TenantID    string
	CommunityID string
	WebhookID   string
	// Secret is the new secret; empty means generate one, as a create does.
	Secret string
	// GracePeriod is how long the secret being replaced stays valid (webhook.DefaultSecretGracePeriod
	// is the API's default).
	GracePeriod time.Duration
}

// RotateSecret gives the webhook a new signing secret and returns the webhook as it now is, new secret
// included. The replaced secret stays valid for the grace period, counted from the command's clock.
// A webhook deleted, or not in the tenant and community given, is webhook.ErrNotFound.
func (h *Webhooks) RotateSecret(ctx context.Context, cmd RotateWebhookSecret, caller Caller) (*webhook.Webhook, Result, error) {
	w, err := h.load(ctx, cmd.TenantID, cmd.CommunityID, cmd.WebhookID)
	if err != nil {
		return nil, Result{}, err
	}
	secret := cmd.Secret
	if secret == "" {
		if secret, err = h.newSecret(); err != nil {
			return nil, Result{}, err
		}
	}
	if err := w.RotateSecret(secret, cmd.GracePeriod, h.streams.clock()); err != nil {
		return nil, Result{}, err
	}
	res, err := h.save(ctx, w, caller)
	return w, res, err
}
