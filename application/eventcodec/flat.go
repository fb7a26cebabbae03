package eventcodec

import (
	"bytes"
	"reflect"
	"strconv"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/internal/jsonwalk"
)

// The decoders below read the records every delivery reads several times (its published event,
// its attempts and outcome, and every record's metadata) in one quick validating pass and a walk,
// where json.Unmarshal validates, then decodes by reflection. They take only the plain shape hookd
// writes: an object of the type's exact field names, each once, each value of its field's JSON
// kind (a string for a string, an integer for an int, true or false, a time's string). Anything
// else (a field this code does not know, a null, another case, 1.0 for an int) is left to
// json.Unmarshal: ok is false. FuzzFlatDecoders holds each to json.Unmarshal's result, and
// TestFlatDecodersKnowEveryField to its type's fields.

// flatField is one field of a flat decoder: its JSON name, and how it takes its value.
type flatField struct {
	name string
	set  func(value []byte) bool
}

// decodeFlat reads raw into fields after checking that it is valid JSON and that every key is one
// of the fields', once.
func decodeFlat(raw []byte, fields []flatField) bool {
	if !jsonwalk.Valid(raw) {
		return false
	}
	var seen uint64
	return jsonwalk.Members(raw, func(key, value []byte) bool {
		for i, f := range fields {
			if f.name == string(key) {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
				return f.set(value)
			}
		}
		return false
	})
}

func stringField(name string, p *string) flatField {
	return flatField{name, func(value []byte) (ok bool) {
		*p, ok = jsonwalk.String(value)
		return ok
	}}
}

func rawField(name string, p *[]byte) flatField {
	return flatField{name, func(value []byte) bool {
		*p = bytes.Clone(value) // a copy, as json.Unmarshal makes
		return true
	}}
}

// intField takes an integer literal, as json.Unmarshal does for an int: no fraction, no exponent.
func intField[I int | int64](name string, p *I) flatField {
	return flatField{name, func(value []byte) bool {
		n, err := strconv.ParseInt(string(value), 10, 64)
		*p = I(n)
		return err == nil && int64(*p) == n
	}}
}

func boolField(name string, p *bool) flatField {
	return flatField{name, func(value []byte) bool {
		*p = string(value) == "true"
		return *p || string(value) == "false"
	}}
}

// timeField hands a string to the time, as json.Unmarshal does.
func timeField(name string, p *time.Time) flatField {
	return flatField{name, func(value []byte) bool {
		return value[0] == '"' && p.UnmarshalJSON(value) == nil
	}}
}

func publishedFields(p *publication.Published) []flatField {
	return []flatField{
		stringField("eventId", &p.EventID), stringField("tenantId", &p.TenantID),
		stringField("communityId", &p.CommunityID), stringField("name", &p.Name),
		rawField("payload", (*[]byte)(&p.Payload)), stringField("idempotencyKey", &p.IdempotencyKey),
		stringField("publisher", &p.Publisher),
	}
}

func metadataFields(md *eventlog.Metadata) []flatField {
	return []flatField{
		stringField("correlationId", &md.CorrelationID), stringField("causationId", &md.CausationID),
		stringField("actor", &md.Actor), timeField("occurredAt", &md.OccurredAt),
		stringField("traceparent", &md.TraceParent),
	}
}

func attemptedFields(a *delivery.Attempted) []flatField {
	return []flatField{
		stringField("deliveryId", &a.DeliveryID), intField("attempt", &a.Attempt), intField("status", &a.Status),
		stringField("errorClass", &a.ErrorClass), intField("durationMs", &a.DurationMs),
		stringField("responseExcerpt", &a.ResponseExcerpt), timeField("at", &a.At), timeField("retryAt", &a.RetryAt),
		stringField("webhookId", &a.WebhookID), boolField("success", &a.Success), boolField("probe", &a.Probe),
	}
}

func succeededFields(s *delivery.Succeeded) []flatField {
	return []flatField{stringField("deliveryId", &s.DeliveryID), intField("attempt", &s.Attempt), timeField("at", &s.At)}
}

func failedFields(f *delivery.Failed) []flatField {
	return []flatField{
		stringField("deliveryId", &f.DeliveryID), intField("attempt", &f.Attempt), stringField("reason", &f.Reason),
		timeField("at", &f.At),
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
