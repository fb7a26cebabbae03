package deliveryview

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
)

// The view decodes the events of every delivery (a scheduling, an attempt, an outcome) with the
// functions below rather than with the codec, which was the larger half of its CPU in
// BenchmarkApply: encoding/json reads a record twice (it validates the whole document before it
// decodes), and a DeliveryScheduled's body, which the view never reads, is most of its bytes. These
// walk the record's top-level object once and decode only the fields the view keeps, each as
// encoding/json would (a string without escapes is taken as it stands; any other value goes to
// encoding/json). They read records the codec wrote, so they do not validate what they skip, and
// match keys exactly as the event types spell them.

// errMalformed is returned for a record that is not a JSON object.
var errMalformed = errors.New("not a JSON object")

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
	err := fields(r, func(key, value []byte) (err error) {
		switch string(key) {
		case "deliveryId":
			e.DeliveryID, err = decodeString(value)
		case "eventId":
			e.EventID, err = decodeString(value)
		case "webhookId":
			e.WebhookID, err = decodeString(value)
		case "tenantId":
			e.TenantID, err = decodeString(value)
		case "communityId":
			e.CommunityID, err = decodeString(value)
		case "eventName":
			e.Name, err = decodeString(value)
		case "scheduledAt":
			err = e.ScheduledAt.UnmarshalJSON(value)
		}
		return err
	})
	return e, err
}

// decodeAttempted reads the fields of a DeliveryAttempted record that the view keeps; the others
// are left zero.
func decodeAttempted(r eventlog.RecordedEvent) (delivery.Attempted, error) {
	var e delivery.Attempted
	err := fields(r, func(key, value []byte) (err error) {
		switch string(key) {
		case "deliveryId":
			e.DeliveryID, err = decodeString(value)
		case "attempt":
			e.Attempt, err = decodeInt[int](value)
		case "status":
			e.Status, err = decodeInt[int](value)
		case "errorClass":
			e.ErrorClass, err = decodeString(value)
		case "durationMs":
			e.DurationMs, err = decodeInt[int64](value)
		case "responseExcerpt":
			e.ResponseExcerpt, err = decodeString(value)
		case "at":
			err = e.At.UnmarshalJSON(value)
		case "retryAt":
			err = e.RetryAt.UnmarshalJSON(value)
		}
		return err
	})
	return e, err
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
func decodeOutcome(r eventlog.RecordedEvent) (outcomeRow, error) {
	var o outcomeRow
	switch r.Type {
	case delivery.EventSucceeded:
		o.status = delivery.StatusSucceeded
	case delivery.EventFailed:
		o.status = delivery.StatusFailed
	default:
		return o, fmt.Errorf("%s@%d is a %s, not an outcome", r.Stream, r.Revision, r.Type)
	}
	err := fields(r, func(key, value []byte) (err error) {
		switch string(key) {
		case "deliveryId":
			o.deliveryID, err = decodeString(value)
		case "reason":
			if o.status == delivery.StatusFailed {
				o.reason, err = decodeString(value)
			}
		case "at":
			err = o.at.UnmarshalJSON(value)
		}
		return err
	})
	return o, err
}

// fields calls field with each key of the record's top-level JSON object and the bytes of its
// value, in order, and stops at the first error.
func fields(r eventlog.RecordedEvent, field func(key, value []byte) error) error {
	err := eachField(r.Data, field)
	if err != nil {
		return fmt.Errorf("decoding %s@%d (%s): %w", r.Stream, r.Revision, r.Type, err)
	}
	return nil
}

func eachField(data []byte, field func(key, value []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errMalformed
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return errMalformed
		}
		end, err := skipValue(data, i)
		if err != nil {
			return err
		}
		key := data[i+1 : end-1]
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return errMalformed
		}
		i = skipSpace(data, i+1)
		if end, err = skipValue(data, i); err != nil {
			return err
		}
		if err := field(key, data[i:end]); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return errMalformed
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return nil
		default:
			return errMalformed
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at data[i].
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errMalformed
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				end, err := skipString(data, i)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, errMalformed
	}
	// A number, true, false or null: up to the next delimiter.
	start := i
	for i < len(data) && data[i] != ',' && data[i] != '}' && data[i] != ']' && data[i] != ' ' &&
		data[i] != '\t' && data[i] != '\n' && data[i] != '\r' {
		i++
	}
	if i == start {
		return 0, errMalformed
	}
	return i, nil
}

// skipString returns the index just past the JSON string that starts at data[i], a quote.
func skipString(data []byte, i int) (int, error) {
	j := i + 1
	for {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			return 0, errMalformed
		}
		j += k
		// The quote ends the string unless an odd number of backslashes escapes it.
		escapes := 0
		for p := j - 1; p > i && data[p] == '\\'; p-- {
			escapes++
		}
		j++
		if escapes%2 == 0 {
			return j, nil
		}
	}
}

// decodeString decodes a JSON value into a string as encoding/json would. A string of printable
// ASCII without escapes stands as it is; encoding/json decodes any other.
func decodeString(value []byte) (string, error) {
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' && plain(value[1:len(value)-1]) {
		return string(value[1 : len(value)-1]), nil
	}
	var s string
	err := json.Unmarshal(value, &s)
	return s, err
}

// plain says s is printable ASCII without a backslash.
func plain(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// decodeInt decodes a JSON value into an integer as encoding/json would.
func decodeInt[T int | int64](value []byte) (T, error) {
	if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && int64(T(n)) == n {
		return T(n), nil
	}
	var n T
	err := json.Unmarshal(value, &n)
	return n, err
}
