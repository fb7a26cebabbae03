package delivery_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
)

const (
	eventID   = "0b8a3c1e-2f4d-4e6a-9b7c-1d2e3f4a5b6c"
	webhookID = "5f0c6d1e-8a1b-4c2d-9e3f-0a1b2c3d4e5f"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func settings(retryCount int) webhook.Settings {
	return webhook.Settings{
		Name:       "orders",
		EventNames: []string{"user.created"},
		API: webhook.Endpoint{Type: webhook.EndpointType, URL: "https://example.com/hook", AuthType: webhook.AuthBearer,
			Credential: webhook.Credential{Token: "CANARY_TOKEN"}},
		SuccessCodes: []int{200},
		RetryCodes:   []int{0, 503},
		RetryCount:   retryCount,
		TTL:          3,
	}
}

func scheduling(retryCount int) delivery.Scheduling {
	return delivery.Scheduling{
		EventID: eventID, WebhookID: webhookID, TenantID: "tenant-1", CommunityID: "community.a",
		EventName: "user.created",
		Body:      `{"version":1,"event":"user.created","payload":{"html":"<b>&</b>"}}`,
		Settings:  delivery.SnapshotOf(settings(retryCount)),
		At:        t0,
	}
}

func mustSchedule(t *testing.T, retryCount int) *delivery.Delivery {
	t.Helper()
	d, err := delivery.Schedule(scheduling(retryCount))
	if err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	return d
}

func names(events []delivery.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.EventName()
	}
	return out
}

func checkChanges(t *testing.T, d *delivery.Delivery, want ...string) {
	t.Helper()
	if got := names(d.Changes()); !slices.Equal(got, want) {
		t.Errorf("Changes() = %v, want %v", got, want)
	}
}

// noJitter makes every retry wait its delay exactly.
var noJitter = delivery.Backoff{}

func attempt(n, status int, at time.Time) delivery.Attempt {
	a := delivery.Attempt{Number: n, Status: status, Duration: 120 * time.Millisecond, At: at}
	if status == 0 {
		a.ErrorClass = "timeout"
	}
	return a
}

func record(t *testing.T, d *delivery.Delivery, a delivery.Attempt) {
	t.Helper()
	if err := d.RecordAttempt(a, d.PolicyFor(delivery.Policy{}), noJitter); err != nil {
		t.Fatalf("RecordAttempt(%+v): %v", a, err)
	}
}

func TestScheduleRecordsScheduled(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 2)
	checkChanges(t, d, delivery.EventScheduled)
	want := delivery.Scheduled{
		DeliveryID: delivery.ID(eventID, webhookID), EventID: eventID, WebhookID: webhookID,
		TenantID: "tenant-1", CommunityID: "community.a", Name: "user.created",
		Body: scheduling(2).Body, Settings: delivery.SnapshotOf(settings(2)), ScheduledAt: t0,
	}
	if got := d.Changes()[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("Scheduled =\n%#v\nwant\n%#v", got, want)
	}
	if d.ID() != delivery.ID(eventID, webhookID) || d.Status() != delivery.StatusScheduled || d.Attempts() != 0 ||
		!d.NextDueAt().Equal(t0) || d.Version() != -1 || d.Body() != scheduling(2).Body ||
		d.EventName() != "user.created" || d.EventID() != eventID || d.WebhookID() != webhookID ||
		d.TenantID() != "tenant-1" || d.CommunityID() != "community.a" || !d.ScheduledAt().Equal(t0) ||
		!d.ReplayMode().IsZero() {
		t.Errorf("state after Schedule is wrong: %+v", d)
	}
	n, wait, err := d.NextAttempt(t0.Add(-time.Second))
	if n != 1 || wait != time.Second || err != nil {
		t.Errorf("NextAttempt a second early = %d, %v, %v; want 1, 1s, nil", n, wait, err)
	}
}

// TestScheduleNamesTheDeliveryAsTheEventSays: a delivery of an event published with ordered ids is
// the stream of its UUIDv8, one of an event published before keeps its UUIDv5.
func TestScheduleNamesTheDeliveryAsTheEventSays(t *testing.T) {
	t.Parallel()
	published := t0.Add(-time.Minute)
	s := scheduling(1)
	s.PublishedAt = published
	old, err := delivery.Schedule(s)
	if err != nil {
		t.Fatal(err)
	}
	s.OrderedID = true
	ordered, err := delivery.Schedule(s)
	if err != nil {
		t.Fatal(err)
	}
	if old.ID() != delivery.ID(eventID, webhookID) || old.Changes()[0].(delivery.Scheduled).DeliveryID != old.ID() {
		t.Errorf("an event published before ordered ids: delivery %s, want %s", old.ID(), delivery.ID(eventID, webhookID))
	}
	want := delivery.OrderedID(eventID, webhookID, published)
	if ordered.ID() != want || ordered.Changes()[0].(delivery.Scheduled).DeliveryID != want {
		t.Errorf("an event published with ordered ids: delivery %s, want %s", ordered.ID(), want)
	}
}

func TestScheduleValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field  string
		change func(*delivery.Scheduling)
	}{
		{"eventId", func(s *delivery.Scheduling) { s.EventID = "" }},
		{"eventId", func(s *delivery.Scheduling) { s.EventID = strings.Repeat("e", 129) }},
		{"webhookId", func(s *delivery.Scheduling) { s.WebhookID = "a\nb" }},
		{"tenantId", func(s *delivery.Scheduling) { s.TenantID = "a b" }},
		{"communityId", func(s *delivery.Scheduling) { s.CommunityID = "" }},
		{"eventName", func(s *delivery.Scheduling) { s.EventName = "user created" }},
		{"body", func(s *delivery.Scheduling) { s.Body = "" }},
		{"body", func(s *delivery.Scheduling) { s.Body = "\xff" }},
		{"scheduledAt", func(s *delivery.Scheduling) { s.At = time.Time{} }},
		{"publishedAt", func(s *delivery.Scheduling) { s.OrderedID = true }},
		{"publishedAt", func(s *delivery.Scheduling) { s.OrderedID, s.PublishedAt = true, time.Unix(-1, 0) }},
		{"publishedAt", func(s *delivery.Scheduling) { s.OrderedID, s.PublishedAt = true, time.UnixMilli(1<<48) }},
	}
	for _, tt := range tests {
		s := scheduling(1)
		tt.change(&s)
		d, err := delivery.Schedule(s)
		var v *webhook.ValidationError
		if !errors.As(err, &v) || d != nil {
			t.Errorf("%s: Schedule = %v, %v; want a ValidationError", tt.field, d, err)
			continue
		}
		if len(v.Problems) != 1 || v.Problems[0].Field != tt.field {
			t.Errorf("%s: problems %+v", tt.field, v.Problems)
		}
	}
}

func TestScheduleSharesNoListWithTheCaller(t *testing.T) {
	t.Parallel()
	s := scheduling(1)
	d, err := delivery.Schedule(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Settings.Policy.SuccessCodes[0] = 999
	if d.Snapshot().Policy.SuccessCodes[0] != 200 {
		t.Error("changing the caller's snapshot changed the delivery")
	}
	d.Snapshot().Policy.RetryCodes[0] = 999
	if d.Snapshot().Policy.RetryCodes[0] != 0 {
		t.Error("changing a returned snapshot changed the delivery")
	}
}

func TestSuccessOnTheFirstAttempt(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 2)
	a := attempt(1, 200, t0.Add(time.Second))
	a.ResponseExcerpt = "ok"
	record(t, d, a)
	checkChanges(t, d, delivery.EventScheduled, delivery.EventAttempted, delivery.EventSucceeded)
	want := delivery.Attempted{DeliveryID: d.ID(), Attempt: 1, Status: 200, DurationMs: 120, ResponseExcerpt: "ok", At: a.At,
		WebhookID: webhookID, Success: true}
	if got := d.Changes()[1]; !reflect.DeepEqual(got, want) {
		t.Errorf("Attempted = %#v, want %#v", got, want)
	}
	if got := d.Changes()[2]; got != (delivery.Succeeded{DeliveryID: d.ID(), Attempt: 1, At: a.At}) {
		t.Errorf("Succeeded = %#v", got)
	}
	if d.Status() != delivery.StatusSucceeded || d.Attempts() != 1 || !d.NextDueAt().IsZero() {
		t.Errorf("status %v, attempts %d, next due %v", d.Status(), d.Attempts(), d.NextDueAt())
	}
	if _, _, err := d.NextAttempt(t0); !errors.Is(err, delivery.ErrFinished) {
		t.Errorf("NextAttempt after success = %v, want ErrFinished", err)
	}
	if err := d.RecordAttempt(attempt(2, 200, t0), delivery.Policy{}, noJitter); !errors.Is(err, delivery.ErrFinished) {
		t.Errorf("RecordAttempt after success = %v, want ErrFinished", err)
	}
	checkChanges(t, d, delivery.EventScheduled, delivery.EventAttempted, delivery.EventSucceeded)
}

func TestRetriesThenExhausted(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 2) // 1 attempt + 2 retries
	b := delivery.Backoff{Jitter: delivery.DefaultJitter, Random: fixed(0.75)}
	p := d.PolicyFor(delivery.Policy{})

	a1 := attempt(1, 503, t0)
	if err := d.RecordAttempt(a1, p, b); err != nil {
		t.Fatal(err)
	}
	if d.Status() != delivery.StatusScheduled || !d.NextDueAt().Equal(t0.Add(1100*time.Millisecond)) {
		t.Fatalf("after attempt 1: %v due %v, want scheduled due t0+1.1s", d.Status(), d.NextDueAt())
	}
	if n, wait, err := d.NextAttempt(t0.Add(100 * time.Millisecond)); n != 2 || wait != time.Second || err != nil {
		t.Errorf("NextAttempt = %d, %v, %v; want 2, 1s", n, wait, err)
	}

	a2 := attempt(2, 0, t0.Add(2*time.Second))
	if err := d.RecordAttempt(a2, p, b); err != nil {
		t.Fatal(err)
	}
	if !d.NextDueAt().Equal(a2.At.Add(5500 * time.Millisecond)) {
		t.Fatalf("after attempt 2 due %v, want +5.5s", d.NextDueAt())
	}
	if n, wait, _ := d.NextAttempt(t0.Add(time.Hour)); n != 3 || wait != 0 {
		t.Errorf("NextAttempt long after = %d, %v; want 3, 0", n, wait)
	}

	a3 := attempt(3, 503, t0.Add(10*time.Second))
	if err := d.RecordAttempt(a3, p, b); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, d, delivery.EventScheduled, delivery.EventAttempted, delivery.EventAttempted,
		delivery.EventAttempted, delivery.EventFailed)
	if got := d.Changes()[4]; got != (delivery.Failed{DeliveryID: d.ID(), Attempt: 3, Reason: delivery.ReasonExhausted, At: a3.At}) {
		t.Errorf("Failed = %#v", got)
	}
	if got := d.Changes()[3].(delivery.Attempted); !got.RetryAt.IsZero() {
		t.Errorf("the last attempt has a retry time: %v", got.RetryAt)
	}
	if got := d.Changes()[2].(delivery.Attempted); got.Status != 0 || got.ErrorClass != "timeout" {
		t.Errorf("attempt 2 = %#v, want status 0 with its error class", got)
	}
	if d.Status() != delivery.StatusFailed || d.Attempts() != 3 || !d.NextDueAt().IsZero() {
		t.Errorf("status %v, attempts %d, due %v", d.Status(), d.Attempts(), d.NextDueAt())
	}
	if err := d.RecordAttempt(attempt(4, 200, t0), p, b); !errors.Is(err, delivery.ErrFinished) {
		t.Errorf("RecordAttempt after park = %v, want ErrFinished", err)
	}
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryCount int
		status     int
		want       []string
		status2    delivery.Status
	}{
		{"success", 0, 200, []string{delivery.EventAttempted, delivery.EventSucceeded}, delivery.StatusSucceeded},
		{"retry with a retry left", 1, 503, []string{delivery.EventAttempted}, delivery.StatusScheduled},
		{"no response with a retry left", 1, 0, []string{delivery.EventAttempted}, delivery.StatusScheduled},
		{"retry with none left", 0, 503, []string{delivery.EventAttempted, delivery.EventFailed}, delivery.StatusFailed},
		{"fail", 2, 400, []string{delivery.EventAttempted, delivery.EventFailed}, delivery.StatusFailed},
		{"3xx fails", 2, 302, []string{delivery.EventAttempted, delivery.EventFailed}, delivery.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := mustSchedule(t, tt.retryCount)
			record(t, d, attempt(1, tt.status, t0))
			checkChanges(t, d, append([]string{delivery.EventScheduled}, tt.want...)...)
			if d.Status() != tt.status2 {
				t.Errorf("status %v, want %v", d.Status(), tt.status2)
			}
			if f, ok := d.Changes()[len(d.Changes())-1].(delivery.Failed); ok {
				want := delivery.ReasonRejected
				if tt.status == 503 {
					want = delivery.ReasonExhausted
				}
				if f.Reason != want {
					t.Errorf("reason %q, want %q", f.Reason, want)
				}
			}
		})
	}
}

func TestAttemptNumbersAreConsecutive(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 2)
	for _, n := range []int{0, 2, -1} {
		err := d.RecordAttempt(attempt(n, 503, t0), delivery.Policy{}, noJitter)
		var numErr *delivery.AttemptNumberError
		if !errors.As(err, &numErr) || numErr.Got != n || numErr.Want != 1 {
			t.Errorf("attempt %d first = %v, want AttemptNumberError{%d, 1}", n, err, n)
		}
	}
	record(t, d, attempt(1, 503, t0))
	if err := d.RecordAttempt(attempt(1, 503, t0), delivery.Policy{}, noJitter); err == nil {
		t.Error("attempt 1 recorded twice")
	}
	checkChanges(t, d, delivery.EventScheduled, delivery.EventAttempted)
}

func TestRecordAttemptValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field string
		a     delivery.Attempt
	}{
		{"status", delivery.Attempt{Number: 1, Status: 99, At: t0}},
		{"status", delivery.Attempt{Number: 1, Status: 600, At: t0}},
		{"errorClass", delivery.Attempt{Number: 1, Status: 0, At: t0}},
		{"errorClass", delivery.Attempt{Number: 1, Status: 200, ErrorClass: strings.Repeat("x", 65), At: t0}},
		{"errorClass", delivery.Attempt{Number: 1, Status: 0, ErrorClass: "a\nb", At: t0}},
		{"duration", delivery.Attempt{Number: 1, Status: 200, Duration: -1, At: t0}},
		{"at", delivery.Attempt{Number: 1, Status: 200}},
	}
	for _, tt := range tests {
		d := mustSchedule(t, 1)
		err := d.RecordAttempt(tt.a, d.PolicyFor(delivery.Policy{}), noJitter)
		var v *webhook.ValidationError
		if !errors.As(err, &v) || len(v.Problems) != 1 || v.Problems[0].Field != tt.field {
			t.Errorf("RecordAttempt(%+v) = %v, want one problem with %s", tt.a, err, tt.field)
		}
		checkChanges(t, d, delivery.EventScheduled)
	}
}

func TestResponseExcerptIsBoundedValidUTF8(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("a", delivery.MaxExcerptBytes-1) + "é" + strings.Repeat("b", 1000)
	tests := []struct{ name, in, want string }{
		{"short", "hello", "hello"},
		{"invalid UTF-8", "ok\xff\xfe", "ok\uFFFD"},
		{"cut before a split character", huge, strings.Repeat("a", delivery.MaxExcerptBytes-1)},
		{"exactly the limit", strings.Repeat("z", delivery.MaxExcerptBytes), strings.Repeat("z", delivery.MaxExcerptBytes)},
	}
	for _, tt := range tests {
		d := mustSchedule(t, 0)
		a := attempt(1, 200, t0)
		a.ResponseExcerpt = tt.in
		record(t, d, a)
		got := d.Changes()[1].(delivery.Attempted).ResponseExcerpt
		if got != tt.want {
			t.Errorf("%s: excerpt of %d bytes, want %d", tt.name, len(got), len(tt.want))
		}
		if len(got) > delivery.MaxExcerptBytes || !utf8.ValidString(got) {
			t.Errorf("%s: excerpt of %d bytes, valid UTF-8 %t", tt.name, len(got), utf8.ValidString(got))
		}
	}
}

func TestReplayReopensAndNumberingContinues(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 1)
	record(t, d, attempt(1, 503, t0))
	if err := d.RequestReplay(delivery.ReplayCurrent, "alice", t0); !errors.Is(err, delivery.ErrNotFinished) {
		t.Errorf("RequestReplay while scheduled = %v, want ErrNotFinished", err)
	}
	record(t, d, attempt(2, 503, t0.Add(2*time.Second)))
	if d.Status() != delivery.StatusFailed {
		t.Fatalf("status %v, want failed", d.Status())
	}

	replayAt := t0.Add(time.Hour)
	if err := d.RequestReplay(delivery.ReplayOriginal, "alice@example.com", replayAt); err != nil {
		t.Fatal(err)
	}
	if got := d.Changes()[len(d.Changes())-1]; got != (delivery.ReplayRequested{DeliveryID: d.ID(),
		Mode: delivery.ReplayOriginal, RequestedBy: "alice@example.com", At: replayAt}) {
		t.Errorf("ReplayRequested = %#v", got)
	}
	if d.Status() != delivery.StatusScheduled || !d.NextDueAt().Equal(replayAt) || d.ReplayMode() != delivery.ReplayOriginal {
		t.Fatalf("after replay: %v due %v mode %v", d.Status(), d.NextDueAt(), d.ReplayMode())
	}
	if n, wait, err := d.NextAttempt(replayAt); n != 3 || wait != 0 || err != nil {
		t.Errorf("NextAttempt after replay = %d, %v, %v; want 3, 0, nil", n, wait, err)
	}
	// A new round: 1 + RetryCount attempts again.
	record(t, d, attempt(3, 503, replayAt))
	if d.Status() != delivery.StatusScheduled {
		t.Fatalf("after attempt 3 (first of the new round): %v, want scheduled", d.Status())
	}
	record(t, d, attempt(4, 200, replayAt.Add(time.Second)))
	if d.Status() != delivery.StatusSucceeded || d.Attempts() != 4 {
		t.Errorf("status %v attempts %d, want succeeded 4", d.Status(), d.Attempts())
	}
	// A succeeded delivery can be replayed too.
	if err := d.RequestReplay(delivery.ReplayCurrent, "", replayAt.Add(time.Hour)); err != nil {
		t.Errorf("RequestReplay after success = %v", err)
	}
	checkChanges(t, d, delivery.EventScheduled, delivery.EventAttempted, delivery.EventAttempted, delivery.EventFailed,
		delivery.EventReplayRequested, delivery.EventAttempted, delivery.EventAttempted, delivery.EventSucceeded,
		delivery.EventReplayRequested)
}

func TestRequestReplayValidates(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 0)
	record(t, d, attempt(1, 400, t0))
	for name, call := range map[string]func() error{
		"mode":        func() error { return d.RequestReplay(delivery.ReplayMode{}, "a", t0) },
		"requestedBy": func() error { return d.RequestReplay(delivery.ReplayCurrent, strings.Repeat("a", 257), t0) },
		"at":          func() error { return d.RequestReplay(delivery.ReplayCurrent, "a", time.Time{}) },
	} {
		var v *webhook.ValidationError
		if err := call(); !errors.As(err, &v) || v.Problems[0].Field != name {
			t.Errorf("%s: RequestReplay = %v", name, err)
		}
	}
	checkChanges(t, d, delivery.EventScheduled, delivery.EventAttempted, delivery.EventFailed)
}

func TestSettingsForFollowTheReplayMode(t *testing.T) {
	t.Parallel()
	present := delivery.SnapshotOf(settings(0))
	present.API.URL = "https://example.com/moved"
	present.Policy.SuccessCodes = []int{204}

	d := mustSchedule(t, 0)
	if got := d.SettingsFor(present); got.API.URL != "https://example.com/hook" {
		t.Errorf("first delivery sends to %s, want the snapshot's URL", got.API.URL)
	}
	record(t, d, attempt(1, 400, t0))
	if err := d.RequestReplay(delivery.ReplayOriginal, "a", t0); err != nil {
		t.Fatal(err)
	}
	if got := d.SettingsFor(present); got.API.URL != "https://example.com/hook" ||
		!slices.Equal(d.PolicyFor(present.Policy).SuccessCodes, []int{200}) {
		t.Errorf("original replay sends with %+v", got)
	}
	record(t, d, attempt(2, 400, t0))
	if err := d.RequestReplay(delivery.ReplayCurrent, "a", t0); err != nil {
		t.Fatal(err)
	}
	if got := d.SettingsFor(present); got.API.URL != "https://example.com/moved" ||
		!slices.Equal(d.PolicyFor(present.Policy).SuccessCodes, []int{204}) {
		t.Errorf("current replay sends with %+v", got)
	}
	// Judged by the present policy, 204 now succeeds.
	if err := d.RecordAttempt(attempt(3, 204, t0), d.PolicyFor(present.Policy), noJitter); err != nil {
		t.Fatal(err)
	}
	if d.Status() != delivery.StatusSucceeded {
		t.Errorf("status %v, want succeeded under the present policy", d.Status())
	}
}

// Rehydrating from the recorded events, through JSON as the log holds them, gives the same state.
func TestRehydrateFromTheLog(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 2)
	b := delivery.Backoff{Jitter: delivery.DefaultJitter, Random: fixed(0.3)}
	p := d.PolicyFor(delivery.Policy{})
	steps := []func() error{
		func() error { return d.RecordAttempt(attempt(1, 503, t0), p, b) },
		func() error { return d.RecordAttempt(attempt(2, 0, t0.Add(2*time.Second)), p, b) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		history := throughJSON(t, d.Changes())
		got, err := delivery.Rehydrate(history, int64(len(history)-1))
		if err != nil {
			t.Fatal(err)
		}
		if got.Status() != d.Status() || got.Attempts() != d.Attempts() || !got.NextDueAt().Equal(d.NextDueAt()) ||
			got.ID() != d.ID() || got.Body() != d.Body() || !reflect.DeepEqual(got.Snapshot(), d.Snapshot()) ||
			got.Version() != int64(len(history)-1) || len(got.Changes()) != 0 {
			t.Errorf("rehydrated %+v\nwant %+v", got, d)
		}
		// The rehydrated delivery goes on where the original is.
		n, _, _ := got.NextAttempt(t0)
		if err := got.RecordAttempt(attempt(n, 503, t0.Add(time.Minute)), p, b); err != nil {
			t.Errorf("RecordAttempt(%d) on the rehydrated delivery: %v", n, err)
		}
	}
	if _, err := delivery.Rehydrate(nil, -1); !errors.Is(err, delivery.ErrNotFound) {
		t.Errorf("Rehydrate(nil) = %v, want ErrNotFound", err)
	}
	if _, err := delivery.Rehydrate([]delivery.Event{delivery.Succeeded{}}, 0); err == nil {
		t.Error("Rehydrate of a history without DeliveryScheduled succeeded")
	}
}

func throughJSON(t *testing.T, events []delivery.Event) []delivery.Event {
	t.Helper()
	out := make([]delivery.Event, len(events))
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		ptr := reflect.New(reflect.TypeOf(e))
		if err := json.Unmarshal(data, ptr.Interface()); err != nil {
			t.Fatal(err)
		}
		out[i] = ptr.Elem().Interface().(delivery.Event)
		if !reflect.DeepEqual(out[i], e) {
			t.Errorf("%s does not survive JSON:\n%#v\n%#v", e.EventName(), out[i], e)
		}
	}
	return out
}

func TestBodyKeepsItsBytesThroughJSON(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 0)
	got := throughJSON(t, d.Changes())[0].(delivery.Scheduled)
	if got.Body != scheduling(0).Body {
		t.Errorf("body after JSON = %q, want %q", got.Body, scheduling(0).Body)
	}
}

func TestScheduledSecretFieldsCoverTheCredential(t *testing.T) {
	t.Parallel()
	e := delivery.Scheduled{Settings: delivery.SnapshotOf(settings(0))}
	e.Settings.API.Credential = webhook.Credential{Username: "u", Password: "p", KeyName: "kn", KeyValue: "kv",
		Token: "t", OAuth2: webhook.OAuth2Credential{ClientID: "ci", ClientSecret: "cs"}}
	for _, f := range e.SecretFields() {
		*f = ""
	}
	if !e.Settings.API.Credential.IsZero() {
		t.Errorf("a credential field is not among SecretFields: %+v", e.Settings.API.Credential)
	}
}

func TestAbandonParksWithoutAnAttempt(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 2)
	record(t, d, attempt(1, 503, t0))
	at := t0.Add(time.Minute)
	if err := d.Abandon(delivery.ReasonWebhookDeleted, at); err != nil {
		t.Fatal(err)
	}
	if got := d.Changes()[len(d.Changes())-1]; got != (delivery.Failed{DeliveryID: d.ID(), Attempt: 1,
		Reason: delivery.ReasonWebhookDeleted, At: at}) {
		t.Errorf("Failed = %#v", got)
	}
	if d.Status() != delivery.StatusFailed || d.Attempts() != 1 || !d.NextDueAt().IsZero() {
		t.Errorf("after Abandon: %v, %d attempts, due %v", d.Status(), d.Attempts(), d.NextDueAt())
	}
	if err := d.Abandon(delivery.ReasonWebhookDisabled, at); !errors.Is(err, delivery.ErrFinished) {
		t.Errorf("Abandon of a parked delivery = %v, want ErrFinished", err)
	}
	// A replay reopens it like any parked delivery.
	if err := d.RequestReplay(delivery.ReplayCurrent, "ops", at.Add(time.Hour)); err != nil {
		t.Errorf("RequestReplay after Abandon = %v", err)
	}
}

func TestAbandonValidates(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 0)
	var v *webhook.ValidationError
	if err := d.Abandon("bored", time.Time{}); !errors.As(err, &v) || len(v.Problems) != 2 {
		t.Errorf("Abandon(bad reason, zero time) = %v, want two problems", err)
	}
	if len(d.Changes()) != 1 || d.Status() != delivery.StatusScheduled {
		t.Errorf("a refused Abandon changed the delivery: %v, %v", names(d.Changes()), d.Status())
	}
}

func TestSavedMovesTheVersionPastTheChanges(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 1)
	d.Saved()
	if d.Version() != 0 || len(d.Changes()) != 0 {
		t.Fatalf("after Saved: version %d, %d changes; want 0 and none", d.Version(), len(d.Changes()))
	}
	record(t, d, attempt(1, 503, t0))
	checkChanges(t, d, delivery.EventAttempted)
	d.Saved()
	if d.Version() != 1 || len(d.Changes()) != 0 || d.Attempts() != 1 {
		t.Errorf("after the second Saved: version %d, %d changes, %d attempts; want 1, none, 1", d.Version(), len(d.Changes()), d.Attempts())
	}
}

// A delivery whose body could not be built is recorded, so its webhook's log shows the event, and
// parked at once with its reason; its body must be empty, and a built body cannot be unbuildable.
func TestScheduleUnbuildableParksAtOnce(t *testing.T) {
	t.Parallel()
	s := scheduling(2)
	s.Body, s.ParkReason = "", delivery.ReasonBodyUnbuildable
	d, err := delivery.Schedule(s)
	if err != nil {
		t.Fatal(err)
	}
	checkChanges(t, d, delivery.EventScheduled, delivery.EventFailed)
	if got := d.Changes()[1]; got != (delivery.Failed{DeliveryID: d.ID(), Reason: delivery.ReasonBodyUnbuildable, At: s.At}) {
		t.Errorf("Failed = %#v", got)
	}
	if d.Status() != delivery.StatusFailed || d.Attempts() != 0 || d.Body() != "" {
		t.Errorf("status %v, %d attempts, body %q", d.Status(), d.Attempts(), d.Body())
	}
	// Replayed, it is parked again before any attempt: there is nothing to send.
	if err := d.RequestReplay(delivery.ReplayOriginal, "ops", s.At.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := d.Abandon(delivery.ReasonBodyUnbuildable, s.At.Add(time.Hour)); err != nil || d.Status() != delivery.StatusFailed {
		t.Errorf("Abandon(body_unbuildable) after a replay = %v, status %v", err, d.Status())
	}

	s = scheduling(2)
	s.ParkReason = delivery.ReasonBodyUnbuildable
	var v *webhook.ValidationError
	if _, err := delivery.Schedule(s); !errors.As(err, &v) || v.Problems[0].Field != "body" {
		t.Errorf("Schedule of an unbuildable delivery with a body = %v, want a body problem", err)
	}
	s.Body, s.ParkReason = "", "bored"
	if _, err := delivery.Schedule(s); !errors.As(err, &v) || v.Problems[0].Field != "parkReason" {
		t.Errorf("Schedule parked for another reason = %v, want a parkReason problem", err)
	}
}

// A delivery whose webhook's credential cannot be opened is recorded with its body and parked.
func TestScheduleWithACredentialThatCannotBeOpenedParksAtOnce(t *testing.T) {
	t.Parallel()
	s := scheduling(0)
	s.ParkReason = delivery.ReasonSecretUnopenable
	d, err := delivery.Schedule(s)
	if err != nil {
		t.Fatal(err)
	}
	checkChanges(t, d, delivery.EventScheduled, delivery.EventFailed)
	if d.Status() != delivery.StatusFailed || d.Body() != s.Body || d.Changes()[1].(delivery.Failed).Reason != "secret_unopenable" {
		t.Errorf("status %v, body %q, %#v", d.Status(), d.Body(), d.Changes()[1])
	}
}

func TestAbandonWhenTheSecretCannotBeOpened(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 0)
	if err := d.Abandon(delivery.ReasonSecretUnopenable, t0); err != nil {
		t.Fatal(err)
	}
	if got := d.Changes()[1]; got != (delivery.Failed{DeliveryID: d.ID(), Reason: "secret_unopenable", At: t0}) {
		t.Errorf("Failed = %#v", got)
	}
}

func TestDeferWaitsWithoutSpendingARetry(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 1)
	if err := d.Defer(t0.Add(time.Minute), delivery.DeferReasonCircuitOpen, t0); err != nil {
		t.Fatal(err)
	}
	if n, wait, err := d.NextAttempt(t0); err != nil || n != 1 || wait != time.Minute {
		t.Fatalf("NextAttempt = %d, %v, %v; want attempt 1 in a minute", n, wait, err)
	}
	events := throughJSON(t, d.Changes())
	back, err := delivery.Rehydrate(events, int64(len(events)-1))
	if err != nil || !back.NextDueAt().Equal(t0.Add(time.Minute)) {
		t.Fatalf("rehydrated due at %v (%v)", back.NextDueAt(), err)
	}
	record(t, d, attempt(1, 503, t0.Add(time.Minute)))
	if d.Status() != delivery.StatusScheduled {
		t.Fatalf("the first attempt after a deferral used the retry: %v", d.Status())
	}
	if err := d.Defer(t0, "bored", t0); err == nil {
		t.Error("an unknown reason was taken")
	}
}

func TestAFailedProbeSpendsNoRetry(t *testing.T) {
	t.Parallel()
	d := mustSchedule(t, 0)
	for n := 1; n <= 3; n++ {
		a := attempt(n, 503, t0.Add(time.Duration(n)*time.Minute))
		a.Probe = true
		record(t, d, a)
		if d.Status() != delivery.StatusScheduled {
			t.Fatalf("probe %d parked a delivery with no retries: %v", n, d.Status())
		}
	}
	record(t, d, attempt(4, 503, t0.Add(time.Hour)))
	if d.Status() != delivery.StatusFailed {
		t.Fatalf("its own attempt after the probes: %v, want parked (no retries)", d.Status())
	}
	events := throughJSON(t, d.Changes())
	var last delivery.Attempted
	for _, e := range events {
		if a, ok := e.(delivery.Attempted); ok && a.Attempt == 3 {
			last = a
		}
	}
	if !last.Probe || last.WebhookID != webhookID || last.Success {
		t.Errorf("probe attempt recorded as %+v", last)
	}
}

// A delivery in body format 1 records no body, only the format; its record reads back as it was,
// and a record without the field (every delivery recorded before formats) is format 0.
func TestScheduleInBodyFormat1RecordsNoBody(t *testing.T) {
	t.Parallel()
	s := scheduling(0)
	s.Body, s.BodyFormat = "", delivery.BodyBuiltV1
	d, err := delivery.Schedule(s)
	if err != nil {
		t.Fatal(err)
	}
	got := throughJSON(t, d.Changes())[0].(delivery.Scheduled)
	if got.Body != "" || got.BodyFormat != delivery.BodyBuiltV1 || d.Body() != "" || d.BodyFormat() != delivery.BodyBuiltV1 {
		t.Errorf("scheduled %#v, delivery body %q format %d", got, d.Body(), d.BodyFormat())
	}
	data, err := json.Marshal(got)
	if err != nil || !strings.Contains(string(data), `"body":"","bodyFormat":1`) {
		t.Errorf("record %s, %v: want an empty body and bodyFormat 1", data, err)
	}
	data, err = json.Marshal(mustSchedule(t, 0).Changes()[0])
	if err != nil || strings.Contains(string(data), "bodyFormat") {
		t.Errorf("record of format 0: %s, %v: want no bodyFormat, as before formats", data, err)
	}
	rehydrated, err := delivery.Rehydrate([]delivery.Event{got}, 0)
	if err != nil || rehydrated.BodyFormat() != delivery.BodyBuiltV1 || rehydrated.Body() != "" {
		t.Errorf("rehydrated: %v, format %d, body %q", err, rehydrated.BodyFormat(), rehydrated.Body())
	}
}

// Schedule refuses a body in format 1, a format it does not know, and format 1 on an unbuildable
// delivery (which records format 0 with no body, as before formats).
func TestScheduleValidatesTheBodyFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*delivery.Scheduling)
		field  string
	}{
		{"format 1 with a body", func(s *delivery.Scheduling) { s.BodyFormat = delivery.BodyBuiltV1 }, "body"},
		{"format 2", func(s *delivery.Scheduling) { s.Body, s.BodyFormat = "", 2 }, "bodyFormat"},
		{"format -1", func(s *delivery.Scheduling) { s.BodyFormat = -1 }, "bodyFormat"},
		{"unbuildable in format 1", func(s *delivery.Scheduling) {
			s.Body, s.BodyFormat, s.ParkReason = "", delivery.BodyBuiltV1, delivery.ReasonBodyUnbuildable
		}, "body"},
	} {
		s := scheduling(0)
		tc.change(&s)
		var v *webhook.ValidationError
		if _, err := delivery.Schedule(s); !errors.As(err, &v) || !slices.ContainsFunc(v.Problems, func(p webhook.Problem) bool { return p.Field == tc.field }) {
			t.Errorf("%s: Schedule = %v, want a %s problem", tc.name, err, tc.field)
		}
	}
}

// A delivery whose published event is gone is parked event_expired without an attempt.
func TestAbandonWhenTheEventExpired(t *testing.T) {
	t.Parallel()
	s := scheduling(0)
	s.Body, s.BodyFormat = "", delivery.BodyBuiltV1
	d, err := delivery.Schedule(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Abandon(delivery.ReasonEventExpired, t0); err != nil || d.Status() != delivery.StatusFailed {
		t.Fatalf("Abandon(event_expired) = %v, status %v", err, d.Status())
	}
	if got := d.Changes()[1]; got != (delivery.Failed{DeliveryID: d.ID(), Reason: "event_expired", At: t0}) {
		t.Errorf("Failed = %#v", got)
	}
	if !slices.Contains(delivery.ParkReasons, "event_expired") {
		t.Errorf("ParkReasons %v lack event_expired", delivery.ParkReasons)
	}
}
