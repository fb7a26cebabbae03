// Package delivery is the delivery aggregate: one published event on its way to one webhook, with
// every attempt to send it, its outcome, and the replays an operator asks for. Every change is an
// event; the aggregate is their fold. It reads no clock and no random source: times and the jitter
// source are parameters.
package delivery

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookd/hookd/domain/webhook"
)

// Bounds on what a delivery records.
const (
	// MaxExcerptBytes bounds the response excerpt an attempt keeps; RecordAttempt cuts it there.
	MaxExcerptBytes = 64 << 10
	// MaxErrorClassLength bounds an attempt's error class.
	MaxErrorClassLength = 64
	// MaxRequestedByLength bounds who requested a replay.
	MaxRequestedByLength = 256
	// MaxIDLength bounds the event and webhook ids a delivery refers to.
	MaxIDLength = 128
)

// Delivery is one event's delivery to one webhook. Its state changes only through its methods, each
// of which records the events it causes; Changes returns them for the caller to append.
type Delivery struct {
	id          string
	eventID     string
	webhookID   string
	tenantID    string
	communityID string
	eventName   string
	body        string
	bodyFormat  int
	settings    Snapshot
	scheduledAt time.Time
	publishedAt time.Time

	status     Status
	attempts   int       // over the delivery's whole life
	round      int       // attempts since it was scheduled or last replayed
	nextDueAt  time.Time // zero when finished
	replayMode ReplayMode

	version int64 // of the last event loaded from the log; -1 for a new delivery
	changes []Event
}

// Scheduling is everything a new delivery starts with.
type Scheduling struct {
	EventID     string
	WebhookID   string
	TenantID    string
	CommunityID string
	EventName   string
	// Body is the request body, built once by the caller (the canonical form of
	// {"version":1,"event":...,"payload":...}); it must be valid UTF-8. It is empty when ParkReason
	// is ReasonBodyUnbuildable, and in BodyFormat BodyBuiltV1.
	Body string
	// BodyFormat is BodyRecorded (Body holds the body) or BodyBuiltV1 (the body is built from the
	// published event at each attempt; Body is empty). A delivery parked ReasonBodyUnbuildable is
	// recorded in BodyRecorded, with no body.
	BodyFormat int
	// ParkReason, when set, says the delivery cannot be sent: it is recorded, so that its webhook's
	// log shows the event, and parked at once. ReasonBodyUnbuildable: the body could not be built;
	// ReasonSecretUnopenable: the webhook's credential could not be opened, and Settings hold none.
	ParkReason string
	// Settings are the webhook's settings now (SnapshotOf).
	Settings Snapshot
	// At is when the delivery is scheduled; the first attempt is due then.
	At time.Time
	// PublishedAt is when the event was accepted (optional: zero when unknown, unless OrderedID).
	PublishedAt time.Time
	// OrderedID says the delivery's id is OrderedID(EventID, WebhookID, PublishedAt), as for every
	// event published since ordered ids (publication.Published.DeliveryIDs); false gives ID's UUIDv5,
	// which the deliveries of events published before keep.
	OrderedID bool
}

// ID returns the id of the delivery s schedules: OrderedID or ID, as s.OrderedID says.
func (s Scheduling) ID() string {
	if s.OrderedID {
		return OrderedID(s.EventID, s.WebhookID, s.PublishedAt)
	}
	return ID(s.EventID, s.WebhookID)
}

// The messages of the rules whose text is formatted, made once: the checks run for every delivery
// and attempt, and formatting them each time was nearly 2% of hookd's CPU under load (profile in
// docs/benchmarks.md, "Where issues 12 and 13 stand after ordered ids").
var (
	idRule          = fmt.Sprintf("must be 1 to %d characters without control characters", MaxIDLength)
	parkReasonRule  = fmt.Sprintf("must be empty, %q or %q", ReasonBodyUnbuildable, ReasonSecretUnopenable)
	bodyFormatRule  = fmt.Sprintf("must be %d (the body recorded) or %d (built from the published event)", BodyRecorded, BodyBuiltV1)
	errorClassRule  = fmt.Sprintf("must be at most %d characters without control characters", MaxErrorClassLength)
	requestedByRule = fmt.Sprintf("must be at most %d characters without control characters", MaxRequestedByLength)
)

// Schedule validates a new delivery and records DeliveryScheduled. Its id is Scheduling.ID.
// A delivery that cannot be sent (Scheduling.ParkReason) also records DeliveryFailed at once, with
// that reason, attempt 0. It returns a *webhook.ValidationError naming every broken rule.
func Schedule(s Scheduling) (*Delivery, error) {
	var problems []webhook.Problem
	check := func(ok bool, field, message string) {
		if !ok {
			problems = append(problems, webhook.Problem{Field: field, Message: message})
		}
	}
	check(validID(s.EventID), "eventId", idRule)
	check(validID(s.WebhookID), "webhookId", idRule)
	check(webhook.ValidScopeID(s.TenantID), "tenantId", "must be 1 to 128 letters, digits, '_', '.' or '-'")
	check(webhook.ValidScopeID(s.CommunityID), "communityId", "must be 1 to 128 letters, digits, '_', '.' or '-'")
	check(webhook.ValidEventName(s.EventName), "eventName", "must be 1 to 128 letters, digits, '_', '.' or '-'")
	check(s.ParkReason == "" || s.ParkReason == ReasonBodyUnbuildable || s.ParkReason == ReasonSecretUnopenable,
		"parkReason", parkReasonRule)
	check(s.BodyFormat == BodyRecorded || s.BodyFormat == BodyBuiltV1, "bodyFormat", bodyFormatRule)
	switch {
	case s.ParkReason == ReasonBodyUnbuildable:
		check(s.Body == "" && s.BodyFormat == BodyRecorded, "body",
			"must be empty, in bodyFormat 0, when the body could not be built")
	case s.BodyFormat == BodyBuiltV1:
		check(s.Body == "", "body", "must be empty when it is built from the published event (bodyFormat 1)")
	default:
		check(s.Body != "" && utf8.ValidString(s.Body), "body", "must be non-empty valid UTF-8")
	}
	check(!s.At.IsZero(), "scheduledAt", "is required")
	if s.OrderedID {
		ms := s.PublishedAt.UnixMilli()
		check(!s.PublishedAt.IsZero() && ms >= 0 && ms <= maxOrderedMillis, "publishedAt",
			"is required for an ordered id, from 1970 on")
	}
	if len(problems) > 0 {
		return nil, &webhook.ValidationError{Problems: problems}
	}
	d := &Delivery{version: -1}
	d.record(Scheduled{
		DeliveryID:  s.ID(),
		EventID:     s.EventID,
		WebhookID:   s.WebhookID,
		TenantID:    s.TenantID,
		CommunityID: s.CommunityID,
		Name:        s.EventName,
		Body:        s.Body,
		BodyFormat:  s.BodyFormat,
		Settings:    s.Settings.clone(),
		ScheduledAt: s.At,
		PublishedAt: s.PublishedAt,
	})
	if s.ParkReason != "" {
		d.record(Failed{DeliveryID: d.id, Reason: s.ParkReason, At: s.At})
	}
	return d, nil
}

// Rehydrate rebuilds a delivery from its events as the log holds them; version is the revision of
// the last one. It is not a constructor: it validates nothing, because the events were valid when
// they were recorded.
func Rehydrate(history []Event, version int64) (*Delivery, error) {
	if len(history) == 0 {
		return nil, ErrNotFound
	}
	if _, ok := history[0].(Scheduled); !ok {
		return nil, fmt.Errorf("delivery: history starts with %s, not %s", history[0].EventName(), EventScheduled)
	}
	d := &Delivery{}
	for _, e := range history {
		d.apply(e)
	}
	d.version = version
	return d, nil
}

// Attempt is what came of one attempt to send a delivery.
type Attempt struct {
	// Number is the attempt's number: NextAttempt's, one more than Attempts().
	Number int
	// Status is the HTTP status of the response, or 0 when none came.
	Status int
	// ErrorClass names why no response came (a timeout, a refused or reset connection…); required
	// when Status is 0, at most MaxErrorClassLength printable characters.
	ErrorClass string
	// Unsendable says that no request could be sent, and no retry would change that: the
	// destination is refused by the outbound policy, or the request cannot be built. Such an
	// attempt fails at once, whatever the retry codes say of status 0.
	Unsendable bool
	// Duration is how long the attempt took; not negative.
	Duration time.Duration
	// ResponseExcerpt is the start of the response body. RecordAttempt keeps at most
	// MaxExcerptBytes of it, cut at a character boundary, with invalid UTF-8 replaced by U+FFFD.
	ResponseExcerpt string
	// At is when the attempt was made.
	At time.Time
	// Probe says the attempt is the one a half-open circuit lets through: when it is to be retried,
	// it spends no retry, whatever the retries left.
	Probe bool
}

// NextAttempt says which attempt to make next and how long to wait before it is due at now: number
// is Attempts()+1, and wait is 0 when the attempt is due already. It returns ErrFinished when the
// delivery succeeded or was parked.
func (d *Delivery) NextAttempt(now time.Time) (number int, wait time.Duration, err error) {
	if d.status.Finished() {
		return 0, 0, ErrFinished
	}
	return d.attempts + 1, max(d.nextDueAt.Sub(now), 0), nil
}

// RecordAttempt records an attempt, judged by policy p, and what follows from the verdict:
//   - Succeed: DeliverySucceeded.
//   - Retry, with a retry left (fewer than 1 + p.RetryCount attempts in this round): the delivery
//     stays scheduled, due b.Delay(retry) after the attempt.
//   - Retry with no retry left: DeliveryFailed, reason exhausted.
//   - Fail: DeliveryFailed, reason rejected.
//
// p is the policy in force (PolicyFor). A round is the attempts since the delivery was scheduled
// or last replayed. It returns ErrFinished on a finished delivery, an *AttemptNumberError when
// a.Number is not the next number, and a *webhook.ValidationError when a is malformed; it records
// nothing then.
func (d *Delivery) RecordAttempt(a Attempt, p Policy, b Backoff) error {
	if d.status.Finished() {
		return ErrFinished
	}
	if a.Number != d.attempts+1 {
		return &AttemptNumberError{Got: a.Number, Want: d.attempts + 1}
	}
	var problems []webhook.Problem
	check := func(ok bool, field, message string) {
		if !ok {
			problems = append(problems, webhook.Problem{Field: field, Message: message})
		}
	}
	check(a.Status == 0 || (a.Status >= 100 && a.Status <= 599), "status",
		"must be 0 (no response) or an HTTP status from 100 to 599")
	check(a.Status != 0 || a.ErrorClass != "", "errorClass", "is required when no response came")
	check(len(a.ErrorClass) <= MaxErrorClassLength && !strings.ContainsFunc(a.ErrorClass, unicode.IsControl),
		"errorClass", errorClassRule)
	check(a.Duration >= 0, "duration", "must not be negative")
	check(!a.At.IsZero(), "at", "is required")
	if len(problems) > 0 {
		return &webhook.ValidationError{Problems: problems}
	}

	attempted := Attempted{
		DeliveryID:      d.id,
		Attempt:         a.Number,
		Status:          a.Status,
		ErrorClass:      a.ErrorClass,
		DurationMs:      a.Duration.Milliseconds(),
		ResponseExcerpt: excerpt(a.ResponseExcerpt),
		At:              a.At,
		WebhookID:       d.webhookID,
		Probe:           a.Probe,
	}
	round := d.round + 1
	switch verdict := p.JudgeAttempt(a); {
	case verdict == Succeed:
		attempted.Success = true
		d.record(attempted)
		d.record(Succeeded{DeliveryID: d.id, Attempt: a.Number, At: a.At})
	case verdict == Retry && a.Probe:
		attempted.RetryAt = a.At.Add(b.Delay(max(d.round, 1)))
		d.record(attempted)
	case verdict == Retry && round <= p.RetryCount:
		attempted.RetryAt = a.At.Add(b.Delay(round))
		d.record(attempted)
	case verdict == Retry:
		d.record(attempted)
		d.record(Failed{DeliveryID: d.id, Attempt: a.Number, Reason: ReasonExhausted, At: a.At})
	default:
		d.record(attempted)
		d.record(Failed{DeliveryID: d.id, Attempt: a.Number, Reason: ReasonRejected, At: a.At})
	}
	return nil
}

// RequestReplay reopens a finished delivery: it is scheduled again, due at once (at), for a new
// round of attempts numbered on from the last one, sent with the settings mode names. It returns
// ErrNotFinished while the delivery is still scheduled, and a *webhook.ValidationError when mode is
// unset, requestedBy is too long or at is zero.
func (d *Delivery) RequestReplay(mode ReplayMode, requestedBy string, at time.Time) error {
	var problems []webhook.Problem
	check := func(ok bool, field, message string) {
		if !ok {
			problems = append(problems, webhook.Problem{Field: field, Message: message})
		}
	}
	check(!mode.IsZero(), "mode", `must be "current" or "original"`)
	check(len(requestedBy) <= MaxRequestedByLength && !strings.ContainsFunc(requestedBy, unicode.IsControl),
		"requestedBy", requestedByRule)
	check(!at.IsZero(), "at", "is required")
	if len(problems) > 0 {
		return &webhook.ValidationError{Problems: problems}
	}
	if !d.status.Finished() {
		return ErrNotFinished
	}
	d.record(ReplayRequested{DeliveryID: d.id, Mode: mode, RequestedBy: requestedBy, At: at})
	return nil
}

// abandonReasons are the reasons a delivery is parked without an attempt.
var abandonReasons = []string{ReasonWebhookDeleted, ReasonWebhookDisabled, ReasonBodyUnbuildable, ReasonSecretUnopenable,
	ReasonEventExpired}

// Abandon parks a delivery that is still scheduled without attempting it, because it cannot be sent:
// its webhook no longer takes deliveries (ReasonWebhookDeleted, ReasonWebhookDisabled), it has no
// body (ReasonBodyUnbuildable: an unbuildable delivery replayed, or a body format this version cannot
// build), its published event is gone (ReasonEventExpired), or its secrets cannot be opened
// (ReasonSecretUnopenable). It returns ErrFinished on a finished delivery and a
// *webhook.ValidationError for another reason or a zero at.
func (d *Delivery) Abandon(reason string, at time.Time) error {
	var problems []webhook.Problem
	if !slices.Contains(abandonReasons, reason) {
		problems = append(problems, webhook.Problem{Field: "reason",
			Message: "must be one of " + strings.Join(abandonReasons, ", ")})
	}
	if at.IsZero() {
		problems = append(problems, webhook.Problem{Field: "at", Message: "is required"})
	}
	if len(problems) > 0 {
		return &webhook.ValidationError{Problems: problems}
	}
	if d.status.Finished() {
		return ErrFinished
	}
	d.record(Failed{DeliveryID: d.id, Attempt: d.attempts, Reason: reason, At: at})
	return nil
}

// Defer makes a due delivery wait until until without an attempt, for reason (its endpoint's
// circuit is open: DeferReasonCircuitOpen), noted at at. It spends no retry. It returns ErrFinished on
// a finished delivery and a *webhook.ValidationError for another reason or a zero time.
func (d *Delivery) Defer(until time.Time, reason string, at time.Time) error {
	var problems []webhook.Problem
	if reason != DeferReasonCircuitOpen {
		problems = append(problems, webhook.Problem{Field: "reason", Message: "must be " + DeferReasonCircuitOpen})
	}
	if until.IsZero() || at.IsZero() {
		problems = append(problems, webhook.Problem{Field: "until", Message: "and at are required"})
	}
	if len(problems) > 0 {
		return &webhook.ValidationError{Problems: problems}
	}
	if d.status.Finished() {
		return ErrFinished
	}
	d.record(Deferred{DeliveryID: d.id, Until: until.UTC(), Reason: reason, At: at.UTC()})
	return nil
}

func (d *Delivery) record(e Event) {
	d.apply(e)
	d.changes = append(d.changes, e)
}

// apply is the fold: the one place where an event changes state, on replay and on a new change alike.
func (d *Delivery) apply(e Event) {
	switch e := e.(type) {
	case Scheduled:
		d.id, d.eventID, d.webhookID = e.DeliveryID, e.EventID, e.WebhookID
		d.tenantID, d.communityID, d.eventName = e.TenantID, e.CommunityID, e.Name
		d.body, d.bodyFormat = e.Body, e.BodyFormat
		d.settings, d.scheduledAt, d.publishedAt = e.Settings, e.ScheduledAt, e.PublishedAt
		d.status, d.nextDueAt = StatusScheduled, e.ScheduledAt
	case Attempted:
		d.attempts = e.Attempt
		if !e.Probe || e.Success {
			d.round++
		}
		d.nextDueAt = e.RetryAt
	case Deferred:
		d.nextDueAt = e.Until
	case Succeeded:
		d.status, d.nextDueAt = StatusSucceeded, time.Time{}
	case Failed:
		d.status, d.nextDueAt = StatusFailed, time.Time{}
	case ReplayRequested:
		d.status, d.nextDueAt, d.round, d.replayMode = StatusScheduled, e.At, 0, e.Mode
	}
}

// excerpt keeps at most MaxExcerptBytes of valid UTF-8, cut at a character boundary, so that the
// excerpt reads back from the log as it was recorded.
func excerpt(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxExcerptBytes {
		return s
	}
	cut := MaxExcerptBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func validID(s string) bool {
	return s != "" && len(s) <= MaxIDLength && !strings.ContainsFunc(s, unicode.IsControl)
}

// PolicyFor returns the policy an attempt is judged by: the webhook's present one (present) after a
// replay in mode current, the snapshot's otherwise.
func (d *Delivery) PolicyFor(present Policy) Policy {
	return d.SettingsFor(Snapshot{Policy: present}).Policy
}

// SettingsFor returns the settings an attempt is sent with: the webhook's present ones (present)
// after a replay in mode current, the snapshot taken at scheduling otherwise (first delivery,
// retries, and replays in mode original).
func (d *Delivery) SettingsFor(present Snapshot) Snapshot {
	if d.replayMode == ReplayCurrent {
		return present.clone()
	}
	return d.settings.clone()
}

// ID returns the delivery's id, the webhook-id of every request it sends.
func (d *Delivery) ID() string { return d.id }

// EventID returns the id of the published event delivered.
func (d *Delivery) EventID() string { return d.eventID }

// WebhookID returns the id of the webhook delivered to.
func (d *Delivery) WebhookID() string { return d.webhookID }

// TenantID returns the tenant of the event and the webhook.
func (d *Delivery) TenantID() string { return d.tenantID }

// CommunityID returns the community of the event and the webhook.
func (d *Delivery) CommunityID() string { return d.communityID }

// EventName returns the published event's name.
func (d *Delivery) EventName() string { return d.eventName }

// Body returns the request body recorded (BodyFormat BodyRecorded), which every attempt sends; empty
// when it could not be built (ReasonBodyUnbuildable), and then nothing is to be sent, and empty in
// any other format, where the body is built from the published event.
func (d *Delivery) Body() string { return d.body }

// BodyFormat returns where the body comes from: BodyRecorded, BodyBuiltV1, or a format recorded by
// a later version, which this one cannot build.
func (d *Delivery) BodyFormat() int { return d.bodyFormat }

// Snapshot returns the webhook's settings as they were when the delivery was scheduled.
func (d *Delivery) Snapshot() Snapshot { return d.settings.clone() }

// ScheduledAt returns when the delivery was first scheduled.
func (d *Delivery) ScheduledAt() time.Time { return d.scheduledAt }

// PublishedAt returns when the delivered event was accepted; zero when the delivery was recorded
// without it.
func (d *Delivery) PublishedAt() time.Time { return d.publishedAt }

// Status returns scheduled, succeeded or failed (parked).
func (d *Delivery) Status() Status { return d.status }

// Attempts returns the number of attempts made over the delivery's whole life, replays included.
func (d *Delivery) Attempts() int { return d.attempts }

// NextDueAt returns when the next attempt is due; zero when the delivery is finished.
func (d *Delivery) NextDueAt() time.Time { return d.nextDueAt }

// ReplayMode returns the mode of the latest replay; zero when the delivery was never replayed.
func (d *Delivery) ReplayMode() ReplayMode { return d.replayMode }

// Version returns the revision of the last event loaded from the log, -1 for a new delivery.
// Changes must be appended expecting it.
func (d *Delivery) Version() int64 { return d.version }

// Saved says that Changes were appended to the log: they become part of the delivery as loaded, and
// Version moves past them, so the delivery can record and be saved again without being read back.
func (d *Delivery) Saved() {
	d.version += int64(len(d.changes))
	d.changes = nil
}

// Changes returns the events recorded since the delivery was loaded or scheduled.
func (d *Delivery) Changes() []Event { return d.changes }
