package eventcodec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/internal/jsonwalk"
)

// The decoders below read the records every delivery reads several times (its published event,
// its attempts and outcome, and every record's metadata) in one validating walk (jsonwalk.ValidMembers),
// where json.Unmarshal validates, then decodes by reflection. They take only the plain shape hookd
// writes: an object of the type's exact field names, each once, each value of its field's JSON
// kind (a string for a string, an integer for an int, true or false, a time's string). Anything
// else (a field this code does not know, a null, another case, 1.0 for an int) is left to
// json.Unmarshal: ok is false. FuzzFlatDecoders holds each to json.Unmarshal's result, and
// TestFlatDecodersKnowEveryField to its type's fields.

// flatField is one field of a flat decoder: its JSON name, and a pointer to the field.
type flatField struct {
	name string
	into any
}

// decodeFlat reads raw into fields after checking that it is valid JSON and that every key is one
// of the fields', once.
func decodeFlat(raw []byte, fields []flatField) bool {
	var seen uint64
	return jsonwalk.ValidMembers(raw, func(key, value []byte) bool {
		for i, f := range fields {
			if f.name == string(key) {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
				return set(f.into, value)
			}
		}
		return false
	})
}

// set reads value into the field p points to, as json.Unmarshal would when the value has the
// field's JSON kind; it returns false otherwise.
func set(p any, value []byte) (ok bool) {
	switch p := p.(type) {
	case *string:
		*p, ok = jsonwalk.String(value)
		return ok
	case *json.RawMessage:
		*p = bytes.Clone(value) // a copy, as json.Unmarshal makes
		return true
	case *int:
		// An integer literal, as json.Unmarshal takes for an int: no fraction, no exponent.
		n, err := strconv.ParseInt(string(value), 10, 64)
		*p = int(n)
		return err == nil && int64(*p) == n
	case *int64:
		n, err := strconv.ParseInt(string(value), 10, 64)
		*p = n
		return err == nil
	case *bool:
		*p = string(value) == "true"
		return *p || string(value) == "false"
	case *time.Time:
		// json.Unmarshal hands the value to the time as well.
		return value[0] == '"' && p.UnmarshalJSON(value) == nil
	}
	return false
}

func publishedFields(p *publication.Published) []flatField {
	return []flatField{
		{"eventId", &p.EventID}, {"tenantId", &p.TenantID},
		{"communityId", &p.CommunityID}, {"name", &p.Name},
		{"payload", &p.Payload}, {"idempotencyKey", &p.IdempotencyKey},
		{"publisher", &p.Publisher}, {"deliveryIds", &p.DeliveryIDs},
	}
}

func metadataFields(md *eventlog.Metadata) []flatField {
	return []flatField{
		{"correlationId", &md.CorrelationID}, {"causationId", &md.CausationID},
		{"actor", &md.Actor}, {"occurredAt", &md.OccurredAt},
		{"traceparent", &md.TraceParent},
	}
}

func attemptedFields(a *delivery.Attempted) []flatField {
	return []flatField{
		{"deliveryId", &a.DeliveryID}, {"attempt", &a.Attempt}, {"status", &a.Status},
		{"errorClass", &a.ErrorClass}, {"durationMs", &a.DurationMs},
		{"responseExcerpt", &a.ResponseExcerpt}, {"at", &a.At}, {"retryAt", &a.RetryAt},
		{"webhookId", &a.WebhookID}, {"success", &a.Success}, {"probe", &a.Probe},
	}
}

func succeededFields(s *delivery.Succeeded) []flatField {
	return []flatField{{"deliveryId", &s.DeliveryID}, {"attempt", &s.Attempt}, {"at", &s.At}}
}

func failedFields(f *delivery.Failed) []flatField {
	return []flatField{
		{"deliveryId", &f.DeliveryID}, {"attempt", &f.Attempt}, {"reason", &f.Reason},
		{"at", &f.At},
	}
}

// flatDecoder is the flat decoder of one type of event.
type flatDecoder struct {
	// fields gives the decoder's fields of a zero event (for TestFlatDecodersKnowEveryField).
	fields func() []flatField
	decode func(raw []byte) (Event, bool)
}

func flatDecode[E Event](fields func(*E) []flatField) flatDecoder {
	return flatDecoder{
		fields: func() []flatField { var e E; return fields(&e) },
		decode: func(raw []byte) (Event, bool) {
			var e E
			if !decodeFlat(raw, fields(&e)) {
				return nil, false
			}
			return e, true
		},
	}
}

// flatDecoders are the flat decoders by the type they decode: events without secrets, whose
// records every delivery reads.
var flatDecoders = map[reflect.Type]flatDecoder{
	reflect.TypeFor[publication.Published](): flatDecode(publishedFields),
	reflect.TypeFor[delivery.Attempted]():    flatDecode(attemptedFields),
	reflect.TypeFor[delivery.Succeeded]():    flatDecode(succeededFields),
	reflect.TypeFor[delivery.Failed]():       flatDecode(failedFields),
}

// decodeMetadata is json.Unmarshal of an eventlog.Metadata, for the plain shape.
func decodeMetadata(raw []byte) (md eventlog.Metadata, ok bool) {
	return md, decodeFlat(raw, metadataFields(&md))
}
