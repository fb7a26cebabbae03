package eventcodec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
)

// FuzzFlatDecoders holds decodePublished and decodeMetadata to json.Unmarshal: what they take,
// json.Unmarshal takes too, into equal values.
func FuzzFlatDecoders(f *testing.F) {
	for _, seed := range []string{
		`{"eventId":"e1","tenantId":"t1","communityId":"c1","name":"E","payload":{"a":[1,"\u003c"]},"publisher":"license:l"}`,
		`{"eventId":"e\u00e9\"","payload":null,"idempotencyKey":"k","name":"x","name":"y"}`, `{"EventId":"e"}`,
		`{"payload": { "a" : 1 } , "tenantId" : "t"}`, `{"payload":1,"future":true}`, `{"name":null}`,
		`{"correlationId":"c","causationId":"c","actor":"license:l","occurredAt":"2025-03-14T15:09:26.535897932Z","traceparent":"00-x"}`,
		`{"occurredAt":"2024-01-02T03:04:05.000000006+05:30"}`, `{"occurredAt":null}`, `{"occurredAt":"x"}`,
		`{"occurredAt":"2024-01-02T03:04:05\u005a"}`, "{\"actor\":\"\xff\"}", `[]`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, ok := decodePublished(raw); ok {
			var want struct{ P publishedForm }
			if err := json.Unmarshal(raw, &want.P); err != nil {
				t.Fatalf("decodePublished(%q) = %+v; json.Unmarshal fails: %v", raw, got, err)
			}
			if !reflect.DeepEqual(publishedForm(got), want.P) || (got.Payload == nil) != (want.P.Payload == nil) ||
				!bytes.Equal(got.Payload, want.P.Payload) {
				t.Fatalf("decodePublished(%q) = %+v; json.Unmarshal gives %+v", raw, got, want.P)
			}
		}
		if got, ok := decodeMetadata(raw); ok {
			var want metadataForm
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("decodeMetadata(%q) = %+v; json.Unmarshal fails: %v", raw, got, err)
			}
			// The same instant in the same zone; each parse makes a zone of its own, so the times
			// are compared by instant, zone name and offset.
			gotZone, gotOffset := got.OccurredAt.Zone()
			wantZone, wantOffset := want.OccurredAt.Zone()
			same := got.OccurredAt.Equal(want.OccurredAt) && gotZone == wantZone && gotOffset == wantOffset
			got.OccurredAt, want.OccurredAt = time.Time{}, time.Time{}
			if !same || metadataForm(got) != want {
				t.Fatalf("decodeMetadata(%q) = %+v; json.Unmarshal gives %+v", raw, got, want)
			}
		}
	})
}

// publishedForm and metadataForm are the decoded types under another name, so that json.Unmarshal
// in the fuzz test never meets the fast decoders.
type (
	publishedForm publication.Published
	metadataForm  eventlog.Metadata
)

// TestFlatDecodersKnowEveryField: decodePublished and decodeMetadata name every field of their type.
// A field added to either type without them would not be lost (its key sends the record to
// json.Unmarshal), but every record would then take the slow way: add it to the decoder.
func TestFlatDecodersKnowEveryField(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		typ   reflect.Type
		names []string
	}{
		{reflect.TypeFor[publication.Published](), publishedFields},
		{reflect.TypeFor[eventlog.Metadata](), metadataFields},
	} {
		var tags []string
		for f := range tt.typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			tags = append(tags, name)
		}
		if !slices.Equal(tags, tt.names) {
			t.Errorf("%s has the JSON fields %q; its flat decoder knows %q", tt.typ, tags, tt.names)
		}
	}
}
