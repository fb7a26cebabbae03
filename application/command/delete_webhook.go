package command

import "context"

// DeleteWebhook ends a webhook.
type DeleteWebhook struct {
	TenantID    string
	CommunityID string
	WebhookID   string
}

// Delete ends the webhook. Deleting one that is already deleted, or that is not in the tenant and
// community given, is webhook.ErrNotFound.
func (h *Webhooks) Delete(ctx context.Context, cmd DeleteWebhook, caller Caller) (Result, error) {
	w, err := h.load(ctx, cmd.TenantID, cmd.CommunityID, cmd.WebhookID)
	if err != nil {
		return Result{}, err
	}
	if err := w.Delete(); err != nil {
		return Result{}, err
	}
	return h.save(ctx, w, caller)
}
