package eventcodec_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/benchcpu"
)

// benchPublished is an event as hookd-bench publishes it: about 1 KiB of payload, normalized by
// publication.Publish as every published event is before it is encoded.
func benchPublished(b *testing.B) publication.Published {
	b.Helper()
	payload := `{"run":"r-1","seq":42,"pad":"` + strings.Repeat("x", 964) + `"}`
	p, err := publication.Publish(publication.Published{
		EventID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", TenantID: "t1", CommunityID: "c1", Name: "E_BENCH",
		Payload: json.RawMessage(payload), Publisher: "license:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c",
	})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchScheduled is the delivery of benchPublished to one webhook as hookd-bench creates it (a
// POST without authentication, success on 200), with its body built.
func benchScheduled(b *testing.B) delivery.Scheduled {
	b.Helper()
	p := benchPublished(b)
	return delivery.Scheduled{
		DeliveryID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d", EventID: p.EventID, WebhookID: "wh-1",
		TenantID: p.TenantID, CommunityID: p.CommunityID, Name: p.Name,
		Body: `{"eventName":"E_BENCH","eventId":"` + p.EventID + `","payload":` + string(p.Payload) + `}`,
		Settings: delivery.Snapshot{
			API:    webhook.Endpoint{Type: "POST", URL: "http://127.0.0.1:41234/hook", AuthType: webhook.AuthNone},
			Policy: delivery.Policy{SuccessCodes: []int{200}, RetryCodes: []int{0, 500, 502, 503, 504}, RetryCount: 3},
		},
		ScheduledAt: time.Date(2026, 12, 3, 18, 0, 0, 123456789, time.UTC),
		PublishedAt: time.Date(2026, 12, 3, 18, 0, 0, 120000000, time.UTC),
	}
}

var benchMetadata = eventlog.Metadata{
	CorrelationID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e", CausationID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e",
	Actor: "license:0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", OccurredAt: time.Date(2026, 12, 3, 18, 0, 0, 123456789, time.UTC),
}

func benchEncode(b *testing.B, stream string, e eventcodec.Event) {
	c := newCodec(b, xorSealer{})
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	for b.Loop() {
		if _, err := c.Encode(stream, eventID(1), e, benchMetadata); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, stream string, e eventcodec.Event, decode func(*eventcodec.Codec, eventlog.RecordedEvent) error) {
	c := newCodec(b, xorSealer{})
	d, err := c.Encode(stream, eventID(1), e, benchMetadata)
	if err != nil {
		b.Fatal(err)
	}
	r := record(stream, d)
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	for b.Loop() {
		if err := decode(c, r); err != nil {
			b.Fatal(err)
		}
	}
}

func decodeSealed(c *eventcodec.Codec, r eventlog.RecordedEvent) error {
	_, err := c.DecodeSealed(r)
	return err
}

func decodeMetadata(c *eventcodec.Codec, r eventlog.RecordedEvent) error {
	_, err := c.DecodeMetadata(r)
	return err
}

// The events every delivery writes and reads: its EventPublished and its DeliveryScheduled.

func BenchmarkEncodePublished(b *testing.B) {
	benchEncode(b, publication.Stream(benchPublished(b).EventID), benchPublished(b))
}

func BenchmarkEncodeScheduled(b *testing.B) { benchEncode(b, "delivery-1", benchScheduled(b)) }

func BenchmarkDecodePublished(b *testing.B) {
	benchDecode(b, publication.Stream(benchPublished(b).EventID), benchPublished(b), decodeSealed)
}

func BenchmarkDecodeScheduled(b *testing.B) {
	benchDecode(b, "delivery-1", benchScheduled(b), decodeSealed)
}

func BenchmarkDecodeMetadata(b *testing.B) {
	benchDecode(b, "delivery-1", benchScheduled(b), decodeMetadata)
}

// BenchmarkDecodeAttempted reads an attempt, which the read models of deliveries and of endpoint
// health each read.
func BenchmarkDecodeAttempted(b *testing.B) {
	at := time.Date(2026, 12, 3, 18, 0, 0, 123456789, time.UTC)
	benchDecode(b, "delivery-1", delivery.Attempted{
		DeliveryID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d", Attempt: 1, Status: 200, DurationMs: 3, At: at,
		WebhookID: "wh-1", Success: true,
	}, decodeSealed)
}
