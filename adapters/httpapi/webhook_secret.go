package httpapi

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/webhook"
)

// rotateSecretBody is the optional body of a secret rotation.
type rotateSecretBody struct {
	Secret             *string `json:"secret"`
	GracePeriodSeconds *int64  `json:"gracePeriodSeconds"`
}

// rotateWebhookSecret gives the webhook a new signing secret, generated unless the body gives one,
// and answers with the webhook and its new secret, shown to whoever rotated it as a create shows it.
// The previous secret stays valid, and deliveries are signed with both, for gracePeriodSeconds (a day
// unless given).
func (s *server) rotateWebhookSecret(c *fiber.Ctx) error {
	tenantID, communityID, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	var body rotateSecretBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	cmd := command.RotateWebhookSecret{
		TenantID: tenantID, CommunityID: communityID, WebhookID: id, GracePeriod: webhook.DefaultSecretGracePeriod,
	}
	if body.Secret != nil {
		if *body.Secret == "" {
			return badRequest("secret must not be empty; leave it out to have one generated")
		}
		cmd.Secret = *body.Secret
	}
	if g := body.GracePeriodSeconds; g != nil {
		// Held just outside the bounds, so that no value overflows a Duration: the aggregate refuses
		// whatever is outside them, with the one message that names the bounds.
		seconds := min(max(*g, -1), int64(webhook.MaxSecretGracePeriod/time.Second)+1)
		cmd.GracePeriod = time.Duration(seconds) * time.Second
	}
	w, res, err := s.Webhooks.RotateSecret(c.UserContext(), cmd, principalOf(c).caller())
	if err != nil {
		return err
	}
	return s.answerChange(c, w, res, true)
}
