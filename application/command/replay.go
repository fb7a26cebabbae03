package command

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
)

// MaxReplayIDs bounds the delivery ids one replay names.
const MaxReplayIDs = 1000

// replayConcurrency bounds the deliveries one replay loads and appends at once: enough for the store
// to commit the appends in groups, few enough that one replay cannot crowd out other requests.
const replayConcurrency = 16

// selectPageSize is how many deliveries a replay by filter reads from the read model at a time.
const selectPageSize = 250

// DeliveryFilter selects deliveries by what the deliveries read model knows of them. A zero field
// selects by nothing.
type DeliveryFilter struct {
	// Status keeps the deliveries that stand there.
	Status delivery.Status
	// EventName keeps the deliveries of events of that name.
	EventName string
	// From and To bound when deliveries were first scheduled: From <= scheduledAt < To. A zero time
	// leaves its end open.
	From, To time.Time
}

// IsZero reports whether the filter selects by nothing.
func (f DeliveryFilter) IsZero() bool {
	return f.Status.IsZero() && f.EventName == "" && f.From.IsZero() && f.To.IsZero()
}

// Validate returns a *webhook.ValidationError when the event name is not one hookd accepts or From
// is not before To.
func (f DeliveryFilter) Validate() error {
	if problems := f.problems(); len(problems) > 0 {
		return &webhook.ValidationError{Problems: problems}
	}
	return nil
}

func (f DeliveryFilter) problems() []webhook.Problem {
	var problems []webhook.Problem
	if f.EventName != "" && !webhook.ValidEventName(f.EventName) {
		problems = append(problems, webhook.Problem{Field: "eventName", Message: "must be 1 to 128 letters, digits, '_', '.' or '-'"})
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		problems = append(problems, webhook.Problem{Field: "from", Message: "must be before to"})
	}
	return problems
}

// DeliverySelector pages through the deliveries a filter selects. The deliveries read model answers
// it, so it may lag behind the log.
type DeliverySelector interface {
	// SelectDeliveries returns the ids on page index (from 0) of size deliveries of the tenant and
	// community, and of the webhook unless webhookID is empty, that f selects, newest scheduled
	// first; and how many it selects in all.
	SelectDeliveries(ctx context.Context, tenantID, communityID, webhookID string, f DeliveryFilter, index, size int) (ids []string, total int, err error)
}

// Scheduler hands a delivery to the delivery transport, to be attempted at dueAt.
type Scheduler interface {
	Schedule(ctx context.Context, deliveryID string, dueAt time.Time) error
}

// Replays holds the command that asks for deliveries to be sent again.
type Replays struct {
	streams  streams
	selector DeliverySelector
	// webhooks loads the webhooks replayed to, to see that they still exist. Only its load is used,
	// which needs neither an id source nor a secret source.
	webhooks *Webhooks
	// scheduler, when set, is handed each delivery replayed.
	scheduler Scheduler
	// expired, when set, tells which delivery ids retention removed, kept for retention.
	expired   ExpiredDeliveries
	retention time.Duration
}

// ExpiredDeliveries says which delivery ids retention removed from the log.
type ExpiredDeliveries interface {
	// Expired returns which of ids retention removed from the tenant and community, and from the
	// webhook unless webhookID is empty.
	Expired(ctx context.Context, tenantID, communityID, webhookID string, ids []string) (map[string]bool, error)
}

// WithExpiry returns the replay command that refuses, with a *delivery.ExpiredError, a replay
// naming deliveries that e says retention removed (retention is the period the error names).
func (h *Replays) WithExpiry(e ExpiredDeliveries, retention time.Duration) *Replays {
	r := *h
	r.expired, r.retention = e, retention
	return &r
}

// NewReplays returns the replay command, which selects deliveries by filter through selector.
func NewReplays(log EventLog, codec *eventcodec.Codec, clock func() time.Time, selector DeliverySelector) (*Replays, error) {
	s, err := newStreams(log, codec, clock)
	if err != nil {
		return nil, err
	}
	if selector == nil {
		return nil, errors.New("command: a delivery selector is required")
	}
	return &Replays{streams: s, selector: selector, webhooks: &Webhooks{streams: s}}, nil
}

// HandingOverTo returns the replay command that also hands each delivery it replays to s, as a
// process that delivers does: the delivery is then attempted without waiting for the dispatcher to
// meet the replay in the log (it does, and hands it over again, which the transport merges).
func (h *Replays) HandingOverTo(s Scheduler) *Replays {
	r := *h
	r.scheduler = s
	return &r
}

// Replay asks for finished deliveries to be sent again: the ones DeliveryIDs names, or else the ones
// Filter selects.
type Replay struct {
	TenantID    string
	CommunityID string
	// WebhookID names the webhook whose deliveries are replayed. Empty, the replay covers every
	// webhook of the community that still exists.
	WebhookID string
	// DeliveryIDs names 1 to MaxReplayIDs deliveries (an id given twice counts once); nil when Filter
	// selects them.
	DeliveryIDs []string
	// Filter selects the deliveries when DeliveryIDs is nil; it must select by something.
	Filter DeliveryFilter
	// Mode says which settings the replayed deliveries are sent with.
	Mode delivery.ReplayMode
	// DryRun counts what would be replayed and appends nothing.
	DryRun bool
	// Limit, when positive, refuses a filter that selects more deliveries, before any is replayed.
	Limit int
	// Progress, when set, is called after each delivery is decided, with how many are decided and
	// how many were selected. Calls never overlap.
	Progress func(done, total int)
}

// ReplayResult says what came of a replay.
type ReplayResult struct {
	// Replayed counts the deliveries replayed (in a dry run: that would be), including those that a
	// repeat of the request finds replayed by an earlier run of it.
	Replayed int
	// Skipped counts the deliveries still scheduled: their attempts are still to come, and a replay
	// would send them twice.
	Skipped int
	// WebhookGone counts the deliveries left alone because their webhook was deleted. Only a replay
	// without WebhookID has any: with one, a deleted webhook is webhook.ErrNotFound.
	WebhookGone int
	// NotFound lists the DeliveryIDs that name no delivery of the tenant, community and webhook, in
	// the order given; never nil.
	NotFound []string
	// Result says where the appends left the log, for a caller that waits for the read models.
	Result
}

// Replay selects the deliveries, loads each from the log, and records DeliveryReplayRequested on the
// finished ones (succeeded or parked), requested by caller.Actor. The delivery pipeline picks the
// requests up from the log; Replay only appends them, so it works whether or not a pipeline runs
// (and hands them to the Scheduler too, when HandingOverTo gave one; its error stops the replay).
//
// Nothing is appended until the command is valid and the selection is made: a
// *webhook.ValidationError (bad input, or a filter selecting more than Limit) and webhook.ErrNotFound
// (WebhookID names no webhook of the tenant and community, or a deleted one) leave the log as it
// was, and so does a *delivery.ExpiredError (WithExpiry; or, with Event set, explicit ids of
// deliveries whose bodies are built from a published event no longer in the log).
// Explicit ids are checked against the delivery's stream, not the read model, so a delivery just
// scheduled is found even before the read model shows it.
//
// Each delivery is decided on its own: not found (an explicit id of no delivery in the tenant,
// community and webhook), webhook gone, skipped (still scheduled; also when the delivery changed
// under the replay twice in a row, since only someone else's replay changes a finished delivery), or
// replayed. A conflict on the append reloads the delivery and tries once more.
//
// Repeating a request: event ids derive from caller.RequestID (generated when empty), and a
// delivery whose stream already holds this request's DeliveryReplayRequested counts as replayed and
// is not replayed again, even when it has finished again since. A request retried after a lost
// answer or an error part way thus replays each delivery at most once and completes what the first
// run did not. Its counts describe what it finds then: a filter by status no longer selects what
// the first run reopened while that is in flight. A new request (another request id) with the same
// body is a new replay: it skips what is still in flight and replays again what has finished since.
//
// An error from the log or the read model stops the replay and is returned; the deliveries replayed
// before it stay replayed.
func (h *Replays) Replay(ctx context.Context, cmd Replay, caller Caller) (ReplayResult, error) {
	if err := cmd.validate(caller); err != nil {
		return ReplayResult{}, err
	}
	if cmd.WebhookID != "" {
		if _, err := h.webhooks.load(ctx, cmd.TenantID, cmd.CommunityID, cmd.WebhookID); err != nil {
			return ReplayResult{}, err
		}
	}
	ids, err := h.selectIDs(ctx, cmd)
	if err != nil {
		return ReplayResult{}, err
	}
	if err := h.refuseExpired(ctx, cmd, ids); err != nil {
		return ReplayResult{}, err
	}
	if err := h.refuseEventsGone(ctx, cmd, ids); err != nil {
		return ReplayResult{}, err
	}
	if caller.RequestID == "" {
		// Fixed here rather than in save, so that every delivery is checked against the one id.
		caller.RequestID = uuid.NewString()
	}
	return h.replayAll(ctx, cmd, ids, caller)
}

func (cmd Replay) validate(caller Caller) error {
	var problems []webhook.Problem
	check := func(ok bool, field, message string) {
		if !ok {
			problems = append(problems, webhook.Problem{Field: field, Message: message})
		}
	}
	scopeRule := "must be 1 to 128 letters, digits, '_', '.' or '-'"
	idRule := fmt.Sprintf("must be 1 to %d characters without control characters", delivery.MaxIDLength)
	check(webhook.ValidScopeID(cmd.TenantID), "tenantId", scopeRule)
	check(webhook.ValidScopeID(cmd.CommunityID), "communityId", scopeRule)
	check(cmd.WebhookID == "" || validID(cmd.WebhookID), "webhookId", idRule)
	switch {
	case cmd.DeliveryIDs != nil && !cmd.Filter.IsZero():
		check(false, "deliveryIds", "and a filter (status, from, to, eventName) exclude each other: give one of them")
	case cmd.DeliveryIDs == nil && cmd.Filter.IsZero():
		check(false, "deliveryIds", "or a filter (status, from, to, eventName) is required")
	case cmd.DeliveryIDs != nil && (len(cmd.DeliveryIDs) == 0 || len(cmd.DeliveryIDs) > MaxReplayIDs):
		check(false, "deliveryIds", fmt.Sprintf("must have 1 to %d entries", MaxReplayIDs))
	case cmd.DeliveryIDs != nil:
		for i, id := range cmd.DeliveryIDs {
			check(validID(id), fmt.Sprintf("deliveryIds[%d]", i), idRule)
		}
	default:
		problems = append(problems, cmd.Filter.problems()...)
	}
	check(!cmd.Mode.IsZero(), "mode", `must be "current" or "original"`)
	// RequestReplay checks these too, but only once deliveries are being replayed.
	check(len(caller.Actor) <= delivery.MaxRequestedByLength && !strings.ContainsFunc(caller.Actor, unicode.IsControl),
		"requestedBy", fmt.Sprintf("must be at most %d characters without control characters", delivery.MaxRequestedByLength))
	if len(problems) > 0 {
		return &webhook.ValidationError{Problems: problems}
	}
	return nil
}

func validID(s string) bool {
	return s != "" && len(s) <= delivery.MaxIDLength && !strings.ContainsFunc(s, unicode.IsControl)
}

// selectIDs returns the ids to replay, each once: the explicit ones in their order, or the ones the
// filter selects, oldest scheduled first, so that they are asked for again in the order they were
// first scheduled.
//
// The filter's pages are offsets into a list that may change while it is read. Every page is read
// before anything is replayed, so this replay's own changes do not move them. A delivery scheduled
// meanwhile pushes others to a later page, where they are read twice and kept once; a delivery that
// leaves the selection meanwhile (another request replays it) pulls one from the next page onto
// this one, where it is missed. Repeating the request (same request id) picks such a delivery up
// without replaying the others twice.
func (h *Replays) selectIDs(ctx context.Context, cmd Replay) ([]string, error) {
	seen := make(map[string]bool)
	var ids []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if cmd.DeliveryIDs != nil {
		for _, id := range cmd.DeliveryIDs {
			add(id)
		}
		return ids, nil
	}
	tooMany := func(n int) error {
		return &webhook.ValidationError{Problems: []webhook.Problem{{Field: "filter", Message: fmt.Sprintf(
			"selects %d deliveries, more than the %d one request may replay: narrow it by status, from, to or eventName",
			n, cmd.Limit)}}}
	}
	for index := 0; ; index++ {
		page, total, err := h.selector.SelectDeliveries(ctx, cmd.TenantID, cmd.CommunityID, cmd.WebhookID, cmd.Filter, index, selectPageSize)
		if err != nil {
			return nil, err
		}
		if cmd.Limit > 0 && total > cmd.Limit {
			return nil, tooMany(total)
		}
		for _, id := range page {
			add(id)
		}
		if len(page) < selectPageSize {
			break
		}
	}
	if cmd.Limit > 0 && len(ids) > cmd.Limit {
		return nil, tooMany(len(ids))
	}
	slices.Reverse(ids)
	return ids, nil
}

// refuseExpired returns a *delivery.ExpiredError naming the explicit ids that retention removed,
// before anything is appended: asking for them again cannot succeed, and saying so beats counting
// them as not found.
func (h *Replays) refuseExpired(ctx context.Context, cmd Replay, ids []string) error {
	if h.expired == nil || cmd.DeliveryIDs == nil {
		return nil
	}
	expired, err := h.expired.Expired(ctx, cmd.TenantID, cmd.CommunityID, cmd.WebhookID, ids)
	if err != nil || len(expired) == 0 {
		return err
	}
	var gone []string
	for _, id := range ids {
		if expired[id] {
			gone = append(gone, id)
		}
	}
	return &delivery.ExpiredError{IDs: gone, Retention: h.retention}
}

// refuseEventsGone returns a *delivery.ExpiredError, with Event set, naming the explicit ids of the
// deliveries whose bodies are built from their published event (delivery.BodyBuiltV1) when the log
// no longer holds it: sent again, they could only be parked (delivery.ReasonEventExpired). It reads
// each delivery's first event and, in that format, its event's; an id of no delivery in the scope
// is left for the replay to count as not found. A replay by filter is not refused: what it selects
// is decided one by one, and such deliveries are parked again.
func (h *Replays) refuseEventsGone(ctx context.Context, cmd Replay, ids []string) error {
	if cmd.DeliveryIDs == nil {
		return nil
	}
	gone := make([]bool, len(ids))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(replayConcurrency)
	for i, id := range ids {
		g.Go(func() error {
			var err error
			gone[i], err = h.eventGone(ctx, cmd, id)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var named []string
	for i, id := range ids {
		if gone[i] {
			named = append(named, id)
		}
	}
	if len(named) == 0 {
		return nil
	}
	return &delivery.ExpiredError{IDs: named, Event: true}
}

// eventGone reports whether delivery id, in cmd's scope, has its body built from a published event
// that the log no longer holds.
func (h *Replays) eventGone(ctx context.Context, cmd Replay, id string) (bool, error) {
	records, err := h.streams.log.ReadStream(ctx, delivery.Stream(id), 0, 1)
	if err != nil || len(records) == 0 {
		return false, err
	}
	e, err := h.streams.codec.DecodeSealed(records[0])
	if err != nil {
		return false, err
	}
	s, ok := e.(delivery.Scheduled)
	if !ok || s.BodyFormat != delivery.BodyBuiltV1 || s.TenantID != cmd.TenantID || s.CommunityID != cmd.CommunityID ||
		(cmd.WebhookID != "" && s.WebhookID != cmd.WebhookID) {
		return false, nil
	}
	event, err := h.streams.log.ReadStream(ctx, publication.Stream(s.EventID), 0, 1)
	return err == nil && len(event) == 0, err
}

// outcome is how one delivery of a replay was decided.
type outcome int

const (
	replayed outcome = iota + 1
	skipped
	notFound
	webhookGone
)

// replayAll decides every delivery, replayConcurrency at a time, and stops at the first error.
func (h *Replays) replayAll(ctx context.Context, cmd Replay, ids []string, caller Caller) (ReplayResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	live := &liveWebhooks{webhooks: h.webhooks, tenantID: cmd.TenantID, communityID: cmd.CommunityID, live: map[string]bool{}}
	outcomes := make([]outcome, len(ids))
	results := make([]Result, len(ids))
	var (
		mu      sync.Mutex
		decided int
		wg      sync.WaitGroup
	)
	next := make(chan int)
	for range min(replayConcurrency, len(ids)) {
		wg.Go(func() {
			for i := range next {
				o, res, err := h.replayOne(ctx, cmd, ids[i], caller, live)
				if err != nil {
					cancel(fmt.Errorf("replaying delivery %s: %w", ids[i], err))
					continue
				}
				outcomes[i], results[i] = o, res
				mu.Lock()
				decided++
				if cmd.Progress != nil {
					cmd.Progress(decided, len(ids))
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range ids {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return ReplayResult{}, err
	}

	out := ReplayResult{NotFound: []string{}}
	for i, o := range outcomes {
		switch o {
		case replayed:
			out.Replayed++
		case skipped:
			out.Skipped++
		case notFound:
			out.NotFound = append(out.NotFound, ids[i])
		case webhookGone:
			out.WebhookGone++
		}
		if r := results[i]; r.Changed {
			out.Changed = true
			if out.Position.Before(r.Position) {
				out.Position = r.Position
			}
		}
	}
	return out, nil
}

// replayOne decides one delivery and, unless it is a dry run, replays it when it is finished.
func (h *Replays) replayOne(ctx context.Context, cmd Replay, id string, caller Caller, live *liveWebhooks) (outcome, Result, error) {
	stream := delivery.Stream(id)
	for try := 1; ; try++ {
		d, mine, err := h.load(ctx, stream, caller)
		if errors.Is(err, delivery.ErrNotFound) {
			return notFound, Result{}, nil
		}
		if err != nil {
			return 0, Result{}, err
		}
		if d.TenantID() != cmd.TenantID || d.CommunityID() != cmd.CommunityID || (cmd.WebhookID != "" && d.WebhookID() != cmd.WebhookID) {
			return notFound, Result{}, nil
		}
		if mine {
			return replayed, Result{}, nil
		}
		if cmd.WebhookID == "" {
			exists, err := live.exists(ctx, d.WebhookID())
			if err != nil {
				return 0, Result{}, err
			}
			if !exists {
				return webhookGone, Result{}, nil
			}
		}
		if !d.Status().Finished() {
			return skipped, Result{}, nil
		}
		if cmd.DryRun {
			return replayed, Result{}, nil
		}
		if err := d.RequestReplay(cmd.Mode, caller.Actor, h.streams.clock()); err != nil {
			return 0, Result{}, err
		}
		res, err := h.streams.save(ctx, stream, d.Version(), asEvents(d.Changes()), caller)
		if errors.Is(err, eventlog.ErrWrongExpectedVersion) {
			if try == 2 {
				return skipped, Result{}, nil
			}
			continue
		}
		if err != nil {
			return 0, Result{}, err
		}
		if h.scheduler != nil {
			if err := h.scheduler.Schedule(ctx, id, h.streams.clock()); err != nil {
				return 0, Result{}, fmt.Errorf("handing it over: %w", err)
			}
		}
		return replayed, res, nil
	}
}

// load rebuilds a delivery from its stream, and reports whether the caller's request has asked to
// replay it already: whether the stream holds a DeliveryReplayRequested with the id that save gives
// this request's event at that revision. Secrets stay sealed; a replay needs none.
func (h *Replays) load(ctx context.Context, stream string, caller Caller) (*delivery.Delivery, bool, error) {
	records, err := h.streams.log.ReadStream(ctx, stream, 0, 0)
	if err != nil {
		return nil, false, err
	}
	key := idempotencyKey(caller.Actor, caller.RequestID)
	history := make([]delivery.Event, len(records))
	mine := false
	for i, r := range records {
		if history[i], err = h.streams.codec.DecodeSealed(r); err != nil {
			return nil, false, err
		}
		if r.Type == delivery.EventReplayRequested && r.ID == eventID(stream, int64(r.Revision)-1, key, 0) {
			mine = true
		}
	}
	d, err := delivery.Rehydrate(history, int64(len(records))-1)
	return d, mine, err
}

// liveWebhooks remembers which webhooks of a tenant and community still exist, for a replay across
// the community's webhooks. It is safe for concurrent use.
type liveWebhooks struct {
	webhooks              *Webhooks
	tenantID, communityID string

	mu   sync.Mutex
	live map[string]bool
}

func (l *liveWebhooks) exists(ctx context.Context, id string) (bool, error) {
	l.mu.Lock()
	live, known := l.live[id]
	l.mu.Unlock()
	if known {
		return live, nil
	}
	// Two workers may load the same webhook at once; both find the same answer.
	_, err := l.webhooks.load(ctx, l.tenantID, l.communityID, id)
	if err != nil && !errors.Is(err, webhook.ErrNotFound) {
		return false, err
	}
	l.mu.Lock()
	l.live[id] = err == nil
	l.mu.Unlock()
	return err == nil, nil
}
