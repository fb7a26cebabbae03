package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/jsonwalk"
)

// publishBody is one event as a publisher sends it. ID is the publisher's optional idempotency key,
// not the event id: the answer gives that.
type publishBody struct {
	EventName string          `json:"eventName"`
	Payload   json.RawMessage `json:"payload"`
	ID        string          `json:"id"`
}

func (b publishBody) event(tenantID, communityID string) command.PublishEvent {
	return command.PublishEvent{
		TenantID: tenantID, CommunityID: communityID, Name: b.EventName, Payload: b.Payload, IdempotencyKey: b.ID,
	}
}

type publishedJSON struct {
	ID string `json:"id"`
}

type publishedBatchJSON struct {
	IDs []string `json:"ids"`
}

// publishEvents publishes one event (a JSON object) or a batch of up to command.MaxBatch (a JSON
// array), and answers 202 with the event ids once the events are durable. It does not wait for the
// read models: nothing a publisher reads shows a published event. A batch is bounded by MaxBodyBytes
// as every body is, whatever its count.
func (s *server) publishEvents(c *fiber.Ctx) error {
	tenantID, communityID, err := scopeOf(c)
	if err != nil {
		return err
	}
	caller := principalOf(c).caller()
	ctx, span := s.startPublish(c, tenantID, communityID, &caller)
	defer span.End()
	if trimmed := bytes.TrimLeft(c.Body(), " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
		bodies, err := decodePublishBodies(c)
		if err != nil {
			return err
		}
		events := make([]command.PublishEvent, len(bodies))
		for i, b := range bodies {
			events[i] = b.event(tenantID, communityID)
		}
		ids, _, err := s.Events.PublishBatch(ctx, events, caller)
		endPublish(span, ids, err)
		if err != nil {
			return publishError(err)
		}
		return c.Status(fiber.StatusAccepted).JSON(publishedBatchJSON{IDs: ids})
	}
	body, err := decodePublishBody(c)
	if err != nil {
		return err
	}
	id, _, err := s.Events.Publish(ctx, body.event(tenantID, communityID), caller)
	endPublish(span, []string{id}, err)
	if err != nil {
		return publishError(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(publishedJSON{ID: id})
}

// publishError names the idempotency key as the body names it, "id". Every error then goes to
// status as any other does.
func publishError(err error) error {
	return renameFields(err, func(field string) string {
		if head, ok := strings.CutSuffix(field, "idempotencyKey"); ok {
			return head + "id"
		}
		return field
	})
}

// renameFields gives the problems of a validation error the field names the request used; any
// other error passes unchanged.
func renameFields(err error, rename func(field string) string) error {
	var v *webhook.ValidationError
	if !errors.As(err, &v) {
		return err
	}
	problems := make([]webhook.Problem, len(v.Problems))
	for i, p := range v.Problems {
		p.Field = rename(p.Field)
		problems[i] = p
	}
	return &webhook.ValidationError{Problems: problems}
}

// decodePublishBody decodes the body of a single event. A body of the plain shape publishers send
// is taken apart in one validating pass (publishBody.fields); any other goes through decodeBody, which
// decodes it the same way or names what is wrong with it.
func decodePublishBody(c *fiber.Ctx) (publishBody, error) {
	if err := checkContentType(c); err != nil {
		return publishBody{}, err
	}
	var b publishBody
	if jsonwalk.ValidFields(c.Body(), b.fields()) {
		return b, nil
	}
	b = publishBody{}
	return b, decodeBody(c, &b)
}

// decodePublishBodies is decodePublishBody for a batch: an array of events.
func decodePublishBodies(c *fiber.Ctx) ([]publishBody, error) {
	if err := checkContentType(c); err != nil {
		return nil, err
	}
	if raw := c.Body(); jsonwalk.Valid(raw) {
		if items, ok := jsonwalk.Items(raw); ok {
			bodies := make([]publishBody, len(items))
			for i, item := range items {
				if bodies[i], ok = publishBodyOf(item); !ok {
					break
				}
			}
			if ok {
				return bodies, nil
			}
		}
	}
	var bodies []publishBody
	return bodies, decodeBody(c, &bodies)
}

// publishBodyOf takes one event apart from valid JSON raw when it has the plain shape: an object of
// publishBody's exact field names, each once, eventName and id strings. Such a body decodes with
// encoding/json into exactly this (FuzzPublishBody holds it to that), and with no second parse.
// ok is false for any other shape.
func publishBodyOf(raw []byte) (b publishBody, ok bool) {
	return b, jsonwalk.Fields(raw, b.fields())
}

// fields are b's fields for jsonwalk.Fields.
func (b *publishBody) fields() []jsonwalk.Field {
	return []jsonwalk.Field{{Name: "eventName", Into: &b.EventName}, {Name: "payload", Into: &b.Payload}, {Name: "id", Into: &b.ID}}
}
