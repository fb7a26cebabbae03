package eventcodec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/internal/jsonwalk"
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
		`{"deliveryId":"d","attempt":2,"status":503,"durationMs":12,"at":"2026-12-03T18:00:00Z","retryAt":"2026-12-03T18:00:01.5Z","webhookId":"w","success":false,"probe":true}`,
		`{"attempt":1.0}`, `{"attempt":1e2}`, `{"attempt":-0}`, `{"status":9223372036854775808}`, `{"success":null}`,
		`{"deliveryId":"d","attempt":0,"reason":"rejected","at":"2026-12-03T18:00:00Z"}`, `{"at":"2026-13-03T18:00:00Z"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for typ, flat := range flatDecoders {
			got, ok := flat.decode(raw)
			if !ok {
				continue
			}
			want := reflect.New(typ)
			if err := json.Unmarshal(raw, want.Interface()); err != nil {
				t.Fatalf("the flat decoder of %s read %q as %+v; json.Unmarshal fails: %v", typ, raw, got, err)
			}
			sameEvent(t, raw, got, want.Elem().Interface())
		}
		if got, ok := decodeMetadata(raw); ok {
			var want eventlog.Metadata
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("decodeMetadata(%q) = %+v; json.Unmarshal fails: %v", raw, got, err)
			}
			sameEvent(t, raw, got, want)
		}
	})
}

// sameEvent fails unless got and want are equal, times compared by their JSON (each parse makes a
// zone of its own) and a payload's nil told from empty.
func sameEvent(t *testing.T, raw []byte, got, want any) {
	t.Helper()
	gotJSON, err1 := json.Marshal(got)
	wantJSON, err2 := json.Marshal(want)
	if err1 != nil || err2 != nil || !bytes.Equal(gotJSON, wantJSON) || reflect.TypeOf(got) != reflect.TypeOf(want) {
		t.Fatalf("%q: the flat decoder gives %s (%v), json.Unmarshal %s (%v)", raw, gotJSON, err1, wantJSON, err2)
	}
	if p, ok := got.(publication.Published); ok && (p.Payload == nil) != (want.(publication.Published).Payload == nil) {
		t.Fatalf("%q: the flat decoder's payload is %#v, json.Unmarshal's %#v", raw, p.Payload, want.(publication.Published).Payload)
	}
}

// TestFlatDecodersKnowEveryField: each flat decoder names every field of its type, and decodes a
// type without secrets (it opens none). A field added to a type without its decoder would not be
// lost (its key sends the record to json.Unmarshal), but every record would then take the slow
// way: add it to the decoder.
func TestFlatDecodersKnowEveryField(t *testing.T) {
	t.Parallel()
	check := func(typ reflect.Type, fields []jsonwalk.Field) {
		var tags, names []string
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			tags = append(tags, name)
		}
		for _, f := range fields {
			names = append(names, f.Name)
		}
		if !slices.Equal(tags, names) {
			t.Errorf("%s has the JSON fields %q; its flat decoder knows %q", typ, tags, names)
		}
		if reflect.PointerTo(typ).Implements(reflect.TypeFor[secretBearer]()) {
			t.Errorf("%s has secrets, which its flat decoder does not open", typ)
		}
	}
	for typ, flat := range flatDecoders {
		check(typ, flat.fields())
	}
	var md eventlog.Metadata
	check(reflect.TypeOf(md), metadataFields(&md))
}
