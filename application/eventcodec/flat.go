package eventcodec

import (
	"reflect"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/internal/jsonwalk"
)

// The decoders below read the records every delivery reads several times (its published event,
// its attempts and outcome, and every record's metadata) in one validating walk
// (jsonwalk.ValidFields), where json.Unmarshal validates, then decodes by reflection. They take only
// the plain shape hookd writes (see jsonwalk.Fields); anything else is left to json.Unmarshal: ok is
// false. FuzzFlatDecoders holds each to json.Unmarshal's result, and TestFlatDecodersKnowEveryField
// to its type's fields.

func publishedFields(p *publication.Published) []jsonwalk.Field {
	return []jsonwalk.Field{
		{Name: "eventId", Into: &p.EventID}, {Name: "tenantId", Into: &p.TenantID},
		{Name: "communityId", Into: &p.CommunityID}, {Name: "name", Into: &p.Name},
		{Name: "payload", Into: &p.Payload}, {Name: "idempotencyKey", Into: &p.IdempotencyKey},
		{Name: "publisher", Into: &p.Publisher}, {Name: "deliveryIds", Into: &p.DeliveryIDs},
	}
}

func metadataFields(md *eventlog.Metadata) []jsonwalk.Field {
	return []jsonwalk.Field{
		{Name: "correlationId", Into: &md.CorrelationID}, {Name: "causationId", Into: &md.CausationID},
		{Name: "actor", Into: &md.Actor}, {Name: "occurredAt", Into: &md.OccurredAt},
		{Name: "traceparent", Into: &md.TraceParent},
	}
}

func attemptedFields(a *delivery.Attempted) []jsonwalk.Field {
	return []jsonwalk.Field{
		{Name: "deliveryId", Into: &a.DeliveryID}, {Name: "attempt", Into: &a.Attempt}, {Name: "status", Into: &a.Status},
		{Name: "errorClass", Into: &a.ErrorClass}, {Name: "durationMs", Into: &a.DurationMs},
		{Name: "responseExcerpt", Into: &a.ResponseExcerpt}, {Name: "at", Into: &a.At}, {Name: "retryAt", Into: &a.RetryAt},
		{Name: "webhookId", Into: &a.WebhookID}, {Name: "success", Into: &a.Success}, {Name: "probe", Into: &a.Probe},
	}
}

func succeededFields(s *delivery.Succeeded) []jsonwalk.Field {
	return []jsonwalk.Field{{Name: "deliveryId", Into: &s.DeliveryID}, {Name: "attempt", Into: &s.Attempt}, {Name: "at", Into: &s.At}}
}

func failedFields(f *delivery.Failed) []jsonwalk.Field {
	return []jsonwalk.Field{
		{Name: "deliveryId", Into: &f.DeliveryID}, {Name: "attempt", Into: &f.Attempt}, {Name: "reason", Into: &f.Reason},
		{Name: "at", Into: &f.At},
	}
}

// flatDecoder is the flat decoder of one type of event.
type flatDecoder struct {
	// fields gives the decoder's fields of a zero event (for TestFlatDecodersKnowEveryField).
	fields func() []jsonwalk.Field
	decode func(raw []byte) (Event, bool)
}

func flatDecode[E Event](fields func(*E) []jsonwalk.Field) flatDecoder {
	return flatDecoder{
		fields: func() []jsonwalk.Field { var e E; return fields(&e) },
		decode: func(raw []byte) (Event, bool) {
			var e E
			if !jsonwalk.ValidFields(raw, fields(&e)) {
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
	return md, jsonwalk.ValidFields(raw, metadataFields(&md))
}
