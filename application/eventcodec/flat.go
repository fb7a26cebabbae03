package eventcodec

import (
	"bytes"
	"slices"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/internal/jsonwalk"
)

// The decoders below read the records every delivery reads several times (its published event,
// and every record's metadata) in one quick validating pass and a walk, where json.Unmarshal
// validates, then decodes by reflection. They take only the plain shape hookd writes: an object of
// the type's exact field names, each once, with a string for every string field. Anything else
// (a field this code does not know, a null, another case) is left to json.Unmarshal: ok is false.
// FuzzFlatDecoders holds each to json.Unmarshal's result.

// flatObject calls set with the index in names of each member of raw and its value, after checking
// that raw is valid JSON and that every key is one of names, once.
func flatObject(raw []byte, names []string, set func(field int, value []byte) bool) bool {
	if !jsonwalk.Valid(raw) {
		return false
	}
	var seen uint64
	return jsonwalk.Members(raw, func(key, value []byte) bool {
		i := slices.Index(names, string(key))
		if i < 0 || seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		return set(i, value)
	})
}

var publishedFields = []string{"eventId", "tenantId", "communityId", "name", "payload", "idempotencyKey", "publisher"}

// decodePublished is json.Unmarshal of a publication.Published, for the plain shape.
func decodePublished(raw []byte) (p publication.Published, ok bool) {
	strings := [...]*string{&p.EventID, &p.TenantID, &p.CommunityID, &p.Name, nil, &p.IdempotencyKey, &p.Publisher}
	ok = flatObject(raw, publishedFields, func(field int, value []byte) (ok bool) {
		if strings[field] == nil { // the payload: a copy, as json.Unmarshal makes
			p.Payload = bytes.Clone(value)
			return true
		}
		*strings[field], ok = jsonwalk.String(value)
		return ok
	})
	return p, ok
}

var metadataFields = []string{"correlationId", "causationId", "actor", "occurredAt", "traceparent"}

// decodeMetadata is json.Unmarshal of an eventlog.Metadata, for the plain shape.
func decodeMetadata(raw []byte) (md eventlog.Metadata, ok bool) {
	strings := [...]*string{&md.CorrelationID, &md.CausationID, &md.Actor, nil, &md.TraceParent}
	ok = flatObject(raw, metadataFields, func(field int, value []byte) (ok bool) {
		if strings[field] == nil { // occurredAt: json.Unmarshal hands the value to the time as well
			return value[0] == '"' && md.OccurredAt.UnmarshalJSON(value) == nil
		}
		*strings[field], ok = jsonwalk.String(value)
		return ok
	})
	return md, ok
}
