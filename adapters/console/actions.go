package console

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
)

// maxReplaySelection bounds the deliveries one replay by filter may select, as the API's does.
const maxReplaySelection = 10_000

// waitTimeout bounds how long an action waits for the read models before showing its page.
const waitTimeout = 5 * time.Second

// done waits for the read models to show an action's effect, leaves a message for the next page,
// and sends the browser there (POST, redirect, GET).
func (s *Console) done(c *fiber.Ctx, res command.Result, to, flash, secret string) error {
	if res.Changed {
		ctx, cancel := context.WithTimeout(c.UserContext(), waitTimeout)
		defer cancel()
		if err := s.cfg.WaitFor(ctx, res.Position); err != nil {
			s.log.WarnContext(ctx, "read models lag behind a console action", "err", err)
			flash += " (the pages may take a moment to show it)"
		}
	}
	s.sessions.setFlash(sessionOf(c).token, flash, secret)
	return c.Redirect(to, http.StatusSeeOther)
}

// toggleWebhook disables or enables a webhook through the update use case, as the API's PATCH does.
func (s *Console) toggleWebhook(disable bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tenant, community := c.Params("tenant"), c.Params("community")
		id, err := webhookID(c)
		if err != nil {
			return err
		}
		_, res, err := s.cfg.Webhooks.Update(c.UserContext(), command.UpdateWebhook{
			TenantID: tenant, CommunityID: community, WebhookID: id, Disabled: &disable,
		}, caller(sessionOf(c)))
		if err != nil {
			return err
		}
		what := "Webhook enabled."
		if disable {
			what = "Webhook disabled."
		}
		return s.done(c, res, webhookPath(tenant, community, id), what, "")
	}
}

// rotateSecret gives the webhook a new generated secret, shown once on the next page.
func (s *Console) rotateSecret(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	w, res, err := s.cfg.Webhooks.RotateSecret(c.UserContext(), command.RotateWebhookSecret{
		TenantID: tenant, CommunityID: community, WebhookID: id, GracePeriod: webhook.DefaultSecretGracePeriod,
	}, caller(sessionOf(c)))
	if err != nil {
		return err
	}
	return s.done(c, res, webhookPath(tenant, community, id),
		"Secret rotated. The previous one stays valid for 24 h. Copy the new one now: it is not shown again.", w.Secret())
}

// retryDelivery sends one finished delivery again, through the replay use case.
func (s *Console) retryDelivery(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	deliveryID := c.Params("delivery")
	res, err := s.cfg.Replays.Replay(c.UserContext(), command.Replay{
		TenantID: tenant, CommunityID: community, WebhookID: id, DeliveryIDs: []string{deliveryID}, Mode: delivery.ReplayCurrent,
	}, caller(sessionOf(c)))
	if err != nil {
		return err
	}
	flash := "Retry requested: the delivery is scheduled again."
	switch {
	case len(res.NotFound) > 0:
		return notFound("delivery")
	case res.Skipped > 0:
		flash = "The delivery is still scheduled: its next attempt is already due, so it was not retried."
	}
	return s.done(c, res.Result, webhookPath(tenant, community, id)+"/d/"+deliveryID, flash, "")
}

// replay replays a webhook's deliveries by filter in two steps: without confirm, it counts what the
// filter selects (a dry run) and shows the count with a confirm button; with it, it replays.
func (s *Console) replay(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	f, err := deliveryFilterForm(c.FormValue("status"), c.FormValue("event"), c.FormValue("from"), c.FormValue("to"))
	if err != nil {
		return err
	}
	if f.filter.IsZero() {
		return &pageError{http.StatusBadRequest, "choose at least one filter (status, event or time range) to replay by"}
	}
	cmd := command.Replay{TenantID: tenant, CommunityID: community, WebhookID: id, Filter: f.filter,
		Mode: delivery.ReplayCurrent, Limit: maxReplaySelection, DryRun: c.FormValue("confirm") != "yes"}
	res, err := s.cfg.Replays.Replay(c.UserContext(), cmd, caller(sessionOf(c)))
	if err != nil {
		return err
	}
	base := webhookPath(tenant, community, id)
	if cmd.DryRun {
		w, err := s.cfg.WebhookView.Get(c.UserContext(), tenant, community, id)
		if err != nil {
			return err
		}
		return s.render(c, "replay", pageData{Title: "Replay deliveries", Crumbs: []crumb{
			{Label: "Communities", Href: Prefix + "/"}, {Label: tenant + " / " + community, Href: communityPath(tenant, community)},
			{Label: w.Settings.Name, Href: base}, {Label: "replay"}},
			Data: map[string]any{"Filter": f, "Replayed": res.Replayed, "Skipped": res.Skipped, "Action": base + "/replay", "Back": base}})
	}
	return s.done(c, res.Result, base, fmt.Sprintf("Replay requested: %d deliveries scheduled again, %d still scheduled left alone.",
		res.Replayed, res.Skipped), "")
}
