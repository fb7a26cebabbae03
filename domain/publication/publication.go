// Package publication is an event published to hookd by an integrator or by the platform: the fact
// that starts every delivery. It is named publication, not event, so that the word stays free for
// the log's events; its stream category is still "event".
package publication

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/jsonwalk"
)

// EventPublished is the stable name of Published in the log.
const EventPublished = "EventPublished"

// StreamPrefix starts the name of every published event's stream; "event" is the stream category.
const StreamPrefix = "event-"

// Stream names the stream that holds a published event.
func Stream(id string) string { return StreamPrefix + id }

// OrderedDeliveryIDs is the value of Published.DeliveryIDs for every event published since delivery
// ids are ordered by time (delivery.OrderedID).
const OrderedDeliveryIDs = "ordered"

// Bounds on a publication.
const (
	// MaxPayloadBytes bounds the payload as the publisher sent it; the API answers 413 above it.
	MaxPayloadBytes = 256 << 10
	// MaxIdempotencyKeyLength bounds the publisher's optional idempotency key.
	MaxIdempotencyKeyLength = 256
	// MaxPublisherLength bounds who published (a license or app id).
	MaxPublisherLength = 256
	// MaxEventIDLength bounds the event id.
	MaxEventIDLength = 128
)

// ErrPayloadTooLarge says a payload is over MaxPayloadBytes. Publish returns it alone, before any other
// rule is checked, so that a large payload is never parsed.
var ErrPayloadTooLarge = fmt.Errorf("publication: payload is over %d bytes", MaxPayloadBytes)

// Published records an event published to a tenant and community. It is the only event of its
// stream. The JSON names are the log's schema; fields may be added, never renamed.
type Published struct {
	EventID     string `json:"eventId"`
	TenantID    string `json:"tenantId"`
	CommunityID string `json:"communityId"`
	Name        string `json:"name"`
	// Payload is a JSON object. Publish stores it compacted, with '<', '>', '&', U+2028 and U+2029
	// escaped as encoding/json writes them, so that it reads back from the log byte for byte; its
	// meaning is the publisher's. Delivery bodies are built from its meaning, not its bytes.
	Payload json.RawMessage `json:"payload"`
	// IdempotencyKey is the publisher's optional id: publishing again with the same key publishes
	// nothing new. Empty when none was given.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Publisher is who published: the actor (license or app id).
	Publisher string `json:"publisher"`
	// DeliveryIDs names how the ids of the event's deliveries derive from it and the webhook:
	// OrderedDeliveryIDs, which Publish sets, or empty (omitted in the log) for every event published
	// before, whose deliveries keep UUIDv5 ids (delivery.ID). A dispatch of the event, first or again
	// (a restart from an older checkpoint, a rebuild, a cluster's takeover), names its deliveries as
	// the event says, so that none is scheduled twice under two webhook-ids.
	DeliveryIDs string `json:"deliveryIds,omitempty"`
}

// OrderedIDs reports whether the event's deliveries have ordered ids (delivery.OrderedID) rather
// than UUIDv5 ones (delivery.ID).
func (p Published) OrderedIDs() bool { return p.DeliveryIDs == OrderedDeliveryIDs }

// EventName implements the log's event interface.
func (Published) EventName() string { return EventPublished }

// Publish validates a publication and returns the event to append, with its payload normalized as
// Published.Payload says. It returns ErrPayloadTooLarge when the payload is over MaxPayloadBytes, or
// a *webhook.ValidationError naming every other broken rule: an event id is required; tenant and
// community ids are 1 to 128 letters, digits, '_', '.' or '-'; the name likewise (webhook.ValidEventName);
// the payload is a JSON object (the API's "payload": {...}) that keeps the payload rules (CheckPayload:
// a problem names the place, such as payload.a[0]); the key and the publisher are bounded and
// printable. What Publish accepts, every delivery can carry as it was published. The event it returns
// gives its deliveries ordered ids (DeliveryIDs).
func Publish(p Published) (Published, error) {
	payload, problems, err := content(p.Name, p.Payload)
	if err != nil {
		return Published{}, err
	}
	check := func(ok bool, field, message string) {
		if !ok {
			problems = append(problems, webhook.Problem{Field: field, Message: message})
		}
	}
	check(p.EventID != "" && len(p.EventID) <= MaxEventIDLength && printable(p.EventID), "id",
		fmt.Sprintf("must be 1 to %d characters without control characters", MaxEventIDLength))
	check(webhook.ValidScopeID(p.TenantID), "tenantId", "must be 1 to 128 letters, digits, '_', '.' or '-'")
	check(webhook.ValidScopeID(p.CommunityID), "communityId", "must be 1 to 128 letters, digits, '_', '.' or '-'")
	check(len(p.IdempotencyKey) <= MaxIdempotencyKeyLength && printable(p.IdempotencyKey), "idempotencyKey",
		fmt.Sprintf("must be at most %d characters without control characters", MaxIdempotencyKeyLength))
	check(len(p.Publisher) <= MaxPublisherLength && printable(p.Publisher), "publisher",
		fmt.Sprintf("must be at most %d characters without control characters", MaxPublisherLength))
	if len(problems) > 0 {
		return Published{}, &webhook.ValidationError{Problems: problems}
	}
	p.Payload = payload
	p.DeliveryIDs = OrderedDeliveryIDs
	return p, nil
}

// ValidateContent checks what an event says, its name and its payload, by the rules Publish applies
// to them, for a caller that handles an event without publishing it (a dry run of the matching). It
// returns the payload normalized as Publish stores it, ErrPayloadTooLarge when the payload is over
// MaxPayloadBytes, or a *webhook.ValidationError naming eventName, payload or both.
func ValidateContent(name string, payload json.RawMessage) (json.RawMessage, error) {
	normalized, problems, err := content(name, payload)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, &webhook.ValidationError{Problems: problems}
	}
	return normalized, nil
}

// content checks an event's name and payload and returns the payload normalized. err is
// ErrPayloadTooLarge alone, returned before the payload is parsed (or a payload that passed the
// rules and does not compact, which would be a bug); every other broken rule is a problem.
func content(name string, payload json.RawMessage) (json.RawMessage, []webhook.Problem, error) {
	if len(payload) > MaxPayloadBytes {
		return nil, nil, ErrPayloadTooLarge
	}
	var problems []webhook.Problem
	if !webhook.ValidEventName(name) {
		problems = append(problems, webhook.Problem{Field: "eventName", Message: "must be 1 to 128 letters, digits, '_', '.' or '-'"})
	}
	if err := CheckPayload(payload); err != nil {
		var e *PayloadError
		errors.As(err, &e)
		return nil, append(problems, webhook.Problem{Field: e.Path, Message: e.Reason}), nil
	}
	normalized, err := normalize(payload)
	if err != nil {
		return nil, nil, err
	}
	return normalized, problems, nil
}

// normalize returns a payload that passed CheckPayload compacted and HTML-escaped. A payload that
// is so already, as most publishers send theirs, is returned as it is (a copy of its own): the
// check is one quick pass, where compacting and escaping take two slower ones.
func normalize(raw []byte) (json.RawMessage, error) {
	if jsonwalk.IsCompact(raw) {
		return bytes.Clone(raw), nil
	}
	var compacted bytes.Buffer
	if err := json.Compact(&compacted, raw); err != nil {
		return nil, fmt.Errorf("publication: a payload that passed the rules does not compact: %w", err)
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, compacted.Bytes())
	return json.RawMessage(escaped.Bytes()), nil
}

func printable(s string) bool { return !strings.ContainsFunc(s, unicode.IsControl) }

// DecodePayload decodes a payload for matching against webhooks' queries (webhook.Settings.Matches).
// Numbers stay json.Number: a number beyond float64's range, which Publish refuses now but events
// published before its payload rules may hold, must not make the payload undecodable.
func DecodePayload(payload json.RawMessage) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("publication: decoding the payload: %w", err)
	}
	return v, nil
}
