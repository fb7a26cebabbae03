package command

import (
	"context"

	"github.com/hookd/hookd/domain/webhook"
)

// CreateWebhook registers a new webhook.
type CreateWebhook struct {
	TenantID    string
	CommunityID string
	Settings    webhook.Settings
	Disabled    bool
	CreatedBy   string
	// Secret signs deliveries; empty means generate one.
	Secret string
}

// Create registers the webhook and returns it as created, secret included.
func (h *Webhooks) Create(ctx context.Context, cmd CreateWebhook, caller Caller) (*webhook.Webhook, Result, error) {
	secret := cmd.Secret
	if secret == "" {
		var err error
		if secret, err = h.newSecret(); err != nil {
			return nil, Result{}, err
		}
	}
	w, err := webhook.Create(webhook.Creation{
		ID:          h.newID(),
		TenantID:    cmd.TenantID,
		CommunityID: cmd.CommunityID,
		Settings:    cmd.Settings,
		Disabled:    cmd.Disabled,
		CreatedBy:   cmd.CreatedBy,
		Secret:      secret,
	})
	if err != nil {
		return nil, Result{}, err
	}
	res, err := h.save(ctx, w, caller)
	return w, res, err
}
