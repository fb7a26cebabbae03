// Package webhooksig builds the bytes hookd sends to a webhook and signs them: the delivery body, Cosmo's
// X-Cosmo-Signature-256 and the Standard Webhooks v1 and v1a signatures. Everything here is a pure function
// without I/O: the dispatcher builds the body once and stores it, and the deliverer signs it again on
// every retry and replay (DESIGN.md section 5, "Wire format of a delivery").
package webhooksig

import (
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/hookd/hookd/domain/publication"
)

// ErrEventName is returned by Body when the event name is not valid UTF-8, which no JSON string can carry.
var ErrEventName = errors.New("webhooksig: event name is not valid UTF-8")

// Body returns the delivery body {"version":1,"event":<eventName>,"payload":<payload>} in the exact bytes
// JavaScript's JSON.stringify(JSON.parse(body)) produces: the payload as publication.AppendDelivered
// writes it (no insignificant whitespace, no HTML escaping, ECMAScript number formatting, array-index
// keys first, a duplicated key with its last value). Cosmo receivers verify X-Cosmo-Signature-256 over
// such re-serialised JSON, so any other spelling would fail their check.
//
// The payload is built by the scanner that checks the payload rules at publish, so Body succeeds on
// every payload publish accepts; an error (a *publication.PayloadError) comes from an event recorded
// before those rules, which the dispatcher then parks.
func Body(eventName string, payload json.RawMessage) ([]byte, error) {
	if !utf8.ValidString(eventName) {
		return nil, ErrEventName
	}
	// The delivered form is rarely longer than the input (escapes of control characters and lone
	// surrogates, and numbers such as 1e20, are the exceptions), so one allocation usually suffices.
	out := make([]byte, 0, len(payload)+len(eventName)+40)
	out = append(out, `{"version":1,"event":`...)
	out = publication.AppendJSONString(out, eventName)
	out = append(out, `,"payload":`...)
	out, err := publication.AppendDelivered(out, payload)
	if err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}
