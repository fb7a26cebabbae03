package deliveryview

import (
	"errors"
	"fmt"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/jsonwalk"
)

// The view decodes a delivery's attempts and outcome with the codec, whose flat decoders read
// those records in one quick pass (eventcodec/flat.go). A DeliveryScheduled it reads itself:
// the request body, which the view never reads, is most of the record's bytes, and the codec would
// decode it and the settings snapshot by reflection. decodeScheduled checks that the record is
// valid JSON (records come from a log that other writers or damage can fill), walks its top-level
// object once and decodes only the fields the view keeps, each as encoding/json would. Keys are
// matched exactly as the event type spells them.

// errMalformed is returned for a record that is not a JSON object.
var errMalformed = errors.New("not a JSON object")

// errNotString is returned for a field of the view's that holds another JSON value than a string.
var errNotString = errors.New("not a string")

// scheduledRow is what the view keeps of a DeliveryScheduled: the fields of delivery.Scheduled under
// the same JSON names (TestScheduledRowMirrorsScheduled), without the request body and the settings
// snapshot. It holds no secret field, so reading it from the sealed record is what DecodeSealed
// would give.
type scheduledRow struct {
	DeliveryID  string    `json:"deliveryId"`
	EventID     string    `json:"eventId"`
	WebhookID   string    `json:"webhookId"`
	TenantID    string    `json:"tenantId"`
	CommunityID string    `json:"communityId"`
	Name        string    `json:"eventName"`
	ScheduledAt time.Time `json:"scheduledAt"`
}

// decodeScheduled reads the scheduledRow of a DeliveryScheduled record.
func decodeScheduled(r eventlog.RecordedEvent) (scheduledRow, error) {
	var e scheduledRow
	var err error
	object := jsonwalk.ValidMembers(r.Data, func(key, value []byte) bool {
		switch string(key) {
		case "deliveryId":
			err = setString(&e.DeliveryID, value)
		case "eventId":
			err = setString(&e.EventID, value)
		case "webhookId":
			err = setString(&e.WebhookID, value)
		case "tenantId":
			err = setString(&e.TenantID, value)
		case "communityId":
			err = setString(&e.CommunityID, value)
		case "eventName":
			err = setString(&e.Name, value)
		case "scheduledAt":
			err = e.ScheduledAt.UnmarshalJSON(value)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", key, err)
		}
		return err == nil
	})
	if err == nil && !object {
		err = errMalformed
	}
	if err != nil {
		return e, fmt.Errorf("decoding %s@%d (%s): %w", r.Stream, r.Revision, r.Type, err)
	}
	return e, nil
}

// setString decodes a valid JSON value into *s as encoding/json would: a null leaves it as it is.
func setString(s *string, value []byte) error {
	if string(value) == "null" {
		return nil
	}
	v, ok := jsonwalk.String(value)
	if !ok {
		return errNotString
	}
	*s = v
	return nil
}

// decodeAttempted reads a DeliveryAttempted record.
func (v *View) decodeAttempted(r eventlog.RecordedEvent) (delivery.Attempted, error) {
	e, err := v.decoder.DecodeSealed(r)
	if err != nil {
		return delivery.Attempted{}, err
	}
	a, ok := e.(delivery.Attempted)
	if !ok {
		return a, fmt.Errorf("%s@%d is a %T, not an attempt", r.Stream, r.Revision, e)
	}
	return a, nil
}

// outcomeRow is what the view keeps of a DeliverySucceeded or DeliveryFailed.
type outcomeRow struct {
	deliveryID string
	status     delivery.Status
	// reason is a Failed's park reason.
	reason string
	at     time.Time
}

// decodeOutcome reads a DeliverySucceeded or DeliveryFailed record.
func (v *View) decodeOutcome(r eventlog.RecordedEvent) (outcomeRow, error) {
	e, err := v.decoder.DecodeSealed(r)
	if err != nil {
		return outcomeRow{}, err
	}
	switch e := e.(type) {
	case delivery.Succeeded:
		return outcomeRow{deliveryID: e.DeliveryID, status: delivery.StatusSucceeded, at: e.At}, nil
	case delivery.Failed:
		return outcomeRow{deliveryID: e.DeliveryID, status: delivery.StatusFailed, reason: e.Reason, at: e.At}, nil
	}
	return outcomeRow{}, fmt.Errorf("%s@%d is a %T, not an outcome", r.Stream, r.Revision, e)
}
