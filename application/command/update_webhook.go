package command

import (
	"context"
	"fmt"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

// UpdateWebhook changes some of a webhook's settings: a nil field keeps its present value.
type UpdateWebhook struct {
	TenantID    string
	CommunityID string
	WebhookID   string
	Patch       SettingsPatch
	Disabled    *bool
	// ExpectedVersion, when set, is the version of the webhook the caller read and edited: the
	// update applies only to the webhook at that version, and is eventlog.ErrWrongExpectedVersion
	// otherwise, so that a change made since the read is not silently overwritten.
	ExpectedVersion *int64
}

// SettingsPatch names the settings to change.
type SettingsPatch struct {
	Name         *string
	EventNames   *[]string
	Tags         *[]string
	Query        *[]webhook.QueryEntry
	Criteria     *webhook.Criteria
	API          *EndpointPatch
	SuccessCodes *[]int
	RetryCodes   *[]int
	RetryCount   *int
	TTL          *int
	RateLimit    *int
}

// EndpointPatch names the endpoint fields to change. A credential given replaces the present one
// whole; none given keeps it, so a caller that was never shown the credential cannot wipe it by
// sending back what it fetched.
type EndpointPatch struct {
	Type           *string
	URL            *string
	AuthType       *webhook.AuthType
	OAuthGrantType *string
	OAuthTokenURL  *string
	OAuthScopes    *[]string
	Credential     *webhook.Credential
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// Apply returns s with the patch's fields set.
func (p SettingsPatch) Apply(s webhook.Settings) webhook.Settings {
	set(&s.Name, p.Name)
	set(&s.EventNames, p.EventNames)
	set(&s.Tags, p.Tags)
	set(&s.Query, p.Query)
	set(&s.Criteria, p.Criteria)
	set(&s.SuccessCodes, p.SuccessCodes)
	set(&s.RetryCodes, p.RetryCodes)
	set(&s.RetryCount, p.RetryCount)
	set(&s.TTL, p.TTL)
	set(&s.RateLimit, p.RateLimit)
	if a := p.API; a != nil {
		set(&s.API.Type, a.Type)
		set(&s.API.URL, a.URL)
		set(&s.API.AuthType, a.AuthType)
		set(&s.API.OAuthGrantType, a.OAuthGrantType)
		set(&s.API.OAuthTokenURL, a.OAuthTokenURL)
		set(&s.API.OAuthScopes, a.OAuthScopes)
		set(&s.API.Credential, a.Credential)
	}
	return s
}

// Update applies the patch and returns the webhook as it now is. A patch that changes nothing writes
// nothing.
func (h *Webhooks) Update(ctx context.Context, cmd UpdateWebhook, caller Caller) (*webhook.Webhook, Result, error) {
	w, err := h.load(ctx, cmd.TenantID, cmd.CommunityID, cmd.WebhookID)
	if err != nil {
		return nil, Result{}, err
	}
	if cmd.ExpectedVersion != nil && *cmd.ExpectedVersion != w.Version() {
		return nil, Result{}, fmt.Errorf("webhook %s is at version %d, not %d: %w", cmd.WebhookID, w.Version(), *cmd.ExpectedVersion,
			eventlog.ErrWrongExpectedVersion)
	}
	if err := w.Update(cmd.Patch.Apply(w.Settings())); err != nil {
		return nil, Result{}, err
	}
	if cmd.Disabled != nil {
		toggle := w.Enable
		if *cmd.Disabled {
			toggle = w.Disable
		}
		if err := toggle(); err != nil {
			return nil, Result{}, err
		}
	}
	res, err := h.save(ctx, w, caller)
	return w, res, err
}
