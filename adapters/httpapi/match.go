package httpapi

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/domain/publication"
)

// matchBody is an event as a publisher would send it, for a dry run of the matching.
type matchBody struct {
	EventName string          `json:"eventName"`
	Payload   json.RawMessage `json:"payload"`
}

// matchWebhooks answers which webhooks of the community an event would be delivered to if it were
// published now: the enabled webhooks that subscribe to its name and whose query its payload
// satisfies (webhook.Settings.Matches), oldest first, each as a GET shows it to this license. It
// publishes nothing and changes nothing. The event is checked by the rules publish applies, with the
// same answers: 400 for a bad name or a payload that breaks the payload rules (publication.CheckPayload:
// not a JSON object, too deep, not UTF-8, a number out of range...), naming where, 413 for a payload
// over 256 KiB.
func (s *server) matchWebhooks(c *fiber.Ctx) error {
	tenantID, communityID, err := scopeOf(c)
	if err != nil {
		return err
	}
	var body matchBody
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	normalized, err := publication.ValidateContent(body.EventName, body.Payload)
	if err != nil {
		return err
	}
	payload, err := publication.DecodePayload(normalized)
	if err != nil {
		return err
	}
	subscribers, err := s.WebhookView.Subscribers(c.UserContext(), tenantID, communityID, body.EventName)
	if err != nil {
		return err
	}
	system := principalOf(c).isSystem()
	docs := make([][]byte, 0, len(subscribers))
	size := 16
	for _, w := range subscribers {
		if !w.Settings.Matches(body.EventName, payload) {
			continue
		}
		doc, err := s.webhookDocument(w, system)
		if err != nil {
			return err
		}
		docs = append(docs, doc)
		size += len(doc) + 1
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(appendMatchAnswer(make([]byte, 0, size), docs))
}
