package deliveryview

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/readmodeltest"
)

// awkward are strings that JSON escapes or that are not what they seem.
var awkward = []string{
	"", "plain", `<b>&amp;</b>`, "a&b", "a>b", `"quoted" \ back/slash {braces} [brackets],:`, "héllo ✓ 日本",
	"line\nbreak\ttab\x01\x7f", "\u2028separators\u2029", "bad\xffutf8\xc3", strings.Repeat("x\"", 3000),
}

func record(t *testing.T, e delivery.Event) eventlog.RecordedEvent {
	t.Helper()
	data, err := readmodeltest.Codec(t).Encode("delivery-x", eventlog.EventID{}, e, eventlog.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	return eventlog.RecordedEvent{Stream: "delivery-x", Type: data.Type, Data: data.Data}
}

// TestDecodersMatchEncodingJSON: what the view decodes from a delivery's events is what the codec
// (encoding/json) decodes, field for field, however the strings are escaped.
func TestDecodersMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	v := &View{decoder: readmodeltest.Codec(t)}
	for _, s := range awkward {
		scheduled := delivery.Scheduled{DeliveryID: s, EventID: s + "e", WebhookID: s + "w", TenantID: "t", CommunityID: "c",
			Name: "user.created", Body: s + `{"payload":"` + s + `"}`, ScheduledAt: at, PublishedAt: at,
			Settings: delivery.Snapshot{Policy: delivery.Policy{SuccessCodes: []int{200}, RetryCodes: []int{503}}}}
		r := record(t, scheduled)
		var want scheduledRow
		if err := json.Unmarshal(r.Data, &want); err != nil {
			t.Fatal(err)
		}
		if got, err := decodeScheduled(r); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decodeScheduled(%q) = %+v, %v; want %+v", r.Data, got, err, want)
		}

		for _, retryAt := range []time.Time{{}, at.Add(time.Second)} {
			attempted := delivery.Attempted{DeliveryID: s, Attempt: 3, Status: 503, ErrorClass: s, DurationMs: -7,
				ResponseExcerpt: s, At: at, RetryAt: retryAt}
			r := record(t, attempted)
			var want delivery.Attempted
			if err := json.Unmarshal(r.Data, &want); err != nil {
				t.Fatal(err)
			}
			if got, err := v.decodeAttempted(r); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("decodeAttempted(%q) = %+v, %v; want %+v", r.Data, got, err, want)
			}
		}

		for _, e := range []delivery.Event{
			delivery.Succeeded{DeliveryID: s, Attempt: 1, At: at},
			delivery.Failed{DeliveryID: s, Attempt: 1, Reason: delivery.ReasonExhausted, At: at},
		} {
			r := record(t, e)
			decoded, err := readmodeltest.Codec(t).DecodeSealed(r)
			if err != nil {
				t.Fatal(err)
			}
			var want outcomeRow
			switch d := decoded.(type) {
			case delivery.Succeeded:
				want = outcomeRow{deliveryID: d.DeliveryID, status: delivery.StatusSucceeded, at: d.At}
			case delivery.Failed:
				want = outcomeRow{deliveryID: d.DeliveryID, status: delivery.StatusFailed, reason: d.Reason, at: d.At}
			}
			got, err := v.decodeOutcome(r)
			if err != nil || !got.at.Equal(want.at) || got.deliveryID != want.deliveryID || got.status != want.status || got.reason != want.reason {
				t.Errorf("decodeOutcome(%q) = %+v, %v; want %+v", r.Data, got, err, want)
			}
		}
	}
}

// TestDecodersReadAnyLayout: the view's decoders read JSON laid out otherwise than the codec
// writes it (spaces, nested values holding delimiters, nulls, keys in another order, a key twice)
// as encoding/json does, and refuse what is not a whole object.
func TestDecodersReadAnyLayout(t *testing.T) {
	t.Parallel()
	doc := ` {
		"scheduledAt" : "2026-03-01T12:00:00.5+01:00" ,
		"settings": {"a": [1, 2, {"b": "}]\"{["}], "c": null, "d": true, "e": -1.5e3},
		"body": "{\"x\":\"}\\\\\"",
		"deliveryId": "first", "eventId": null, "webhookId": "w\u00e9\n",
		"tenantId": "t", "communityId": "c", "eventName": "n",
		"deliveryId": "second"
	} `
	var want scheduledRow
	if err := json.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatal(err)
	}
	r := eventlog.RecordedEvent{Type: delivery.EventScheduled, Data: []byte(doc)}
	if got, err := decodeScheduled(r); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeScheduled = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"", "[]", `"s"`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":}`, `{"a":1,}`, `{"deliveryId":1}`} {
		if _, err := decodeScheduled(eventlog.RecordedEvent{Data: []byte(bad)}); err == nil {
			t.Errorf("decodeScheduled(%s): no error", bad)
		}
	}
	for n := range len(doc) - 2 {
		if _, err := decodeScheduled(eventlog.RecordedEvent{Data: []byte(doc[:n])}); err == nil {
			t.Errorf("decodeScheduled(%q), cut short: no error", doc[:n])
		}
	}
}

// TestAttemptEntryIsMarshalsOutput: the attempt log's entry is written as json.Marshal writes its
// loggedAttempt's array, byte for byte, and reads back as that loggedAttempt.
func TestAttemptEntryIsMarshalsOutput(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	for _, s := range append(awkward, strings.Repeat("é", 3000), "") {
		e := delivery.Attempted{Attempt: 12, Status: 0, ErrorClass: s, DurationMs: 1234567, ResponseExcerpt: s, At: at}
		logged := loggedAttempt{Number: e.Attempt, Status: e.Status, DurationMs: e.DurationMs, At: packTime(e.At),
			ErrorClass: e.ErrorClass, ResponseExcerpt: excerpt(e.ResponseExcerpt)}
		fields := []any{logged.Number, logged.Status, logged.DurationMs, logged.At}
		if s != "" {
			fields = append(fields, logged.ErrorClass, logged.ResponseExcerpt)
		}
		want, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		got := attemptEntry(e, packTime(e.At))
		if got != string(want) {
			t.Errorf("attemptEntry(%q) =\n%s\nwant\n%s", s, got, want)
		}
		read, err := parseAttempt([]byte(got)) // invalid UTF-8 reads as JSON reads it, with U+FFFD
		if err != nil || (utf8.ValidString(s) && read != logged) {
			t.Errorf("attemptEntry(%q) reads back as %+v, %v", s, read, err)
		}
	}
}
