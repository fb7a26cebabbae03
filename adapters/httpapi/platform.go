package httpapi

import (
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/webhook"
)

// platformBody is a platform event as Cosmo's platform sends it: its name is "event".
type platformBody struct {
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	ID      string          `json:"id"`
}

// publishPlatformEvent publishes one of the platform catalogue's events (system licenses), to be
// delivered to WEBHOOK_URL; 202 with its id once it is durable. The rules are those of tenants'
// events, plus the catalogue: an event name it does not list is refused.
func (s *server) publishPlatformEvent(c *fiber.Ctx) error {
	var body platformBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.Event != "" && !platform.Known(body.Event) {
		return &webhook.ValidationError{Problems: []webhook.Problem{{Field: "event",
			Message: "must be one of " + strings.Join(platform.Names(), ", ")}}}
	}
	caller := principalOf(c).caller()
	ctx, span := s.startPublish(c, platform.Scope, platform.Scope, &caller)
	defer span.End()
	id, _, err := s.Events.Publish(ctx, command.PublishEvent{
		TenantID: platform.Scope, CommunityID: platform.Scope, Name: body.Event, Payload: body.Payload, IdempotencyKey: body.ID,
	}, caller)
	endPublish(span, []string{id}, err)
	if err != nil {
		return platformError(publishError(err))
	}
	return c.Status(fiber.StatusAccepted).JSON(publishedJSON{ID: id})
}

// platformError names the event's name as the platform body does, "event".
func platformError(err error) error {
	return renameFields(err, func(field string) string {
		if field == "eventName" {
			return "event"
		}
		return field
	})
}
