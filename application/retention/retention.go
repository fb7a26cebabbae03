// Package retention is the use case that keeps the log and the deliveries read model from growing
// for ever: deliveries finished longer ago than the retention period are removed from both, and a
// published event once no delivery of it is left. Webhook, license and service key streams are
// never touched. Before the attempts of a webhook's deliveries go, the endpoint health folded from
// them is carried into the log (webhook/carry.go), so that a rebuild still gives it.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
)

// Delivery is a finished delivery old enough to be removed, as the deliveries read model has it.
type Delivery struct {
	ID, TenantID, CommunityID, WebhookID, EventID string
	// Version is the revision of its stream's last event the read model has applied, Position
	// where that event is in the log.
	Version  uint64
	Position eventlog.Position
	// UpdatedAt is when it last changed: it expired a retention period later.
	UpdatedAt time.Time
}

// Deliveries is the deliveries read model as retention uses it.
type Deliveries interface {
	// Expiring returns up to limit finished deliveries unchanged since before cutoff, after the
	// cursor after (0: from the start), the cursor to go on from, and whether the scan is done.
	Expiring(ctx context.Context, cutoff time.Time, after int64, limit int) (found []Delivery, next int64, done bool, err error)
	// Forget removes the deliveries' rows, each unless it changed since, and remembers their ids
	// as expired at at.
	Forget(ctx context.Context, gone []Delivery, at time.Time) error
	// HasDeliveriesOf reports whether a delivery of the published event is still kept.
	HasDeliveriesOf(ctx context.Context, eventID string) (bool, error)
	// ForgetExpiredBefore drops up to limit ids of deliveries expired before cutoff.
	ForgetExpiredBefore(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// Log is the event store as retention uses it.
type Log interface {
	eventstore.Pruner
	ReadAll(ctx context.Context, after eventlog.Position, limit int) ([]eventlog.RecordedEvent, error)
}

// Endpoints carries webhooks' endpoint health into the log (webhook/carry.go): the webhooks read
// model, and the commands that append the pairs.
type Endpoints interface {
	// Carrying returns how far carrying the webhook's health has gone, as the webhooks read model
	// has it; found is false when the model does not hold the webhook (deleted): then nothing of
	// its health is left to carry.
	Carrying(ctx context.Context, tenantID, communityID, webhookID string) (c Carry, found bool, err error)
	// MarkHealth and CarryHealth append the marker and the carrier of the webhook's pair-th carry;
	// appending what another node appended already is no error.
	MarkHealth(ctx context.Context, webhookID string, pair uint64) error
	CarryHealth(ctx context.Context, webhookID string, pair uint64, h webhook.Health) error
}

// Carry is how far carrying a webhook's health has gone: the health holds every attempt before
// From, the marker of pair Carried; Marked is the last pair marked, and AtMark, while it is not
// carried yet, the health at its marker.
type Carry struct {
	Carried, Marked uint64
	From            eventlog.Position
	AtMark          *webhook.Health
}

// Config wires a Sweeper.
type Config struct {
	// Retention is how long a finished delivery is kept after its last change; it must be positive.
	Retention time.Duration
	Log       Log
	// Deliveries is the read model retention selects from and removes rows of.
	Deliveries Deliveries
	// Endpoints carries the health of the webhooks whose deliveries go.
	Endpoints Endpoints
	// CarryWait is how long a pass waits for the webhooks read model to apply a pair it appended
	// before it leaves that webhook's deliveries to the next pass. Default 30s.
	CarryWait time.Duration
	// Settled returns the position up to which the log has been dispatched and projected into the
	// deliveries read model: a published event after it may still get deliveries, so it is kept.
	Settled func(ctx context.Context) (eventlog.Position, error)
	Clock   func() time.Time
	// Interval is the pause between passes once a pass found nothing more to remove. Default 1s.
	// It also tells whether the sweeper keeps up: see pace.
	Interval time.Duration
	// Batch is how many deliveries one pass removes together: one DeleteStreams call (which the
	// store may split into smaller transactions), one read-model transaction. Default 64.
	Batch  int
	Logger *slog.Logger
}

// Sweeper removes what has expired, in small batches, until its context ends.
type Sweeper struct {
	cfg Config
	// walked is how far the walk over published events has gone.
	walked eventlog.Position
}

// New returns a Sweeper, or an error naming what cfg lacks.
func New(cfg Config) (*Sweeper, error) {
	var errs []error
	if cfg.Retention <= 0 {
		errs = append(errs, errors.New("retention: the retention period must be positive"))
	}
	if cfg.Log == nil || cfg.Deliveries == nil || cfg.Endpoints == nil || cfg.Settled == nil || cfg.Clock == nil {
		errs = append(errs, errors.New("retention: a log, a deliveries read model, endpoints, a settled position and a clock are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.CarryWait <= 0 {
		cfg.CarryWait = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{cfg: cfg}, nil
}

// Run sweeps until ctx ends; an error of one pass is logged and the next pass tries again after
// the interval. A pass that removed something is followed by the next at once: under load,
// deliveries expire while a pass runs, and pausing after each pass would let them pile up faster
// than the passes remove them.
func (s *Sweeper) Run(ctx context.Context) error {
	for {
		removed, err := s.Sweep(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.cfg.Logger.Warn("retention pass failed", "error", err)
		case removed > 0:
			s.cfg.Logger.Debug("retention pass", "streams removed", removed)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.Interval):
		}
	}
}

// Sweep makes one pass and returns how many streams it removed: the deliveries finished before
// now less the retention period, then the published events with no delivery left.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	now := s.cfg.Clock()
	cutoff := now.Add(-s.cfg.Retention)
	removed := 0
	for after := int64(0); ; {
		found, next, done, err := s.cfg.Deliveries.Expiring(ctx, cutoff, after, carryChunk*s.cfg.Batch)
		if err != nil {
			return removed, err
		}
		after = next
		if found, err = s.carried(ctx, found); err != nil {
			return removed, err
		}
		for len(found) > 0 {
			n := min(len(found), s.cfg.Batch)
			r, err := s.removeDeliveries(ctx, found[:n], cutoff, now)
			removed += r
			if err != nil {
				return removed, err
			}
			found = found[n:]
		}
		if done {
			break
		}
	}
	r, err := s.walkEvents(ctx, cutoff)
	removed += r
	if err != nil {
		return removed, err
	}
	// Expired ids are remembered for another retention period, for replays to name.
	_, err = s.cfg.Deliveries.ForgetExpiredBefore(ctx, cutoff, 10000)
	return removed, err
}

// carryChunk is how many batches of expiring deliveries one carry serves: a carry waits twice for
// the webhooks read model, which costs less the more deliveries it serves.
const carryChunk = 64

// carried returns the deliveries of found whose webhook's health the log will keep once their
// attempts are gone: those to no webhook (the platform's WEBHOOK_URL), to a webhook gone, or whose
// last event came before the marker of a pair carried. For a webhook with a delivery after its last
// carried marker, it carries a pair first; one whose pair the read model did not apply within
// CarryWait keeps those deliveries until a later pass.
//
// A marker covers every delivery the deliveries read model held when it was appended, so a pass
// carries a webhook's health about once a retention period, when the cutoff passes its last marker,
// however many passes run between (a pair for every webhook of every pass cost 73 % more bytes
// written per delivery with 200 webhooks: docs/benchmarks.md).
func (s *Sweeper) carried(ctx context.Context, found []Delivery) ([]Delivery, error) {
	// latest is where the last of each webhook's deliveries found is in the log; first holds each
	// webhook's first delivery found, which names its tenant and community.
	latest := map[string]eventlog.Position{}
	var first []Delivery
	for _, d := range found {
		if d.WebhookID == "" {
			continue
		}
		p, seen := latest[d.WebhookID]
		if !seen {
			first = append(first, d)
		}
		if !seen || p.Before(d.Position) {
			latest[d.WebhookID] = d.Position
		}
	}
	// from is where each webhook's carried health ends: the deliveries before it are covered.
	from := map[string]eventlog.Position{}
	gone := map[string]bool{}
	var todo []*carrying
	for _, d := range first {
		c, exists, err := s.cfg.Endpoints.Carrying(ctx, d.TenantID, d.CommunityID, d.WebhookID)
		switch {
		case err != nil:
			return nil, err
		case !exists:
			gone[d.WebhookID] = true
			continue
		}
		from[d.WebhookID] = c.From
		if !latest[d.WebhookID].Before(c.From) {
			todo = append(todo, &carrying{tenant: d.TenantID, community: d.CommunityID, id: d.WebhookID,
				before: c, pair: max(c.Carried, c.Marked) + 1})
		}
	}
	if err := s.carry(ctx, todo); err != nil {
		return nil, err
	}
	for _, c := range todo {
		switch {
		case c.gone:
			gone[c.id] = true
		case c.carried:
			from[c.id] = c.now.From
		}
	}
	return slices.DeleteFunc(found, func(d Delivery) bool {
		return d.WebhookID != "" && !gone[d.WebhookID] && !d.Position.Before(from[d.WebhookID])
	}), nil
}

// carrying is a webhook whose health a pass carries in a new pair.
type carrying struct {
	tenant, community, id string
	// before is how far carrying had gone when the pass began, now as the read model last showed.
	before, now Carry
	pair        uint64
	// gone: the webhook was deleted meanwhile. carried: the read model applied the pair's carrier.
	// failed: a step failed, or another node went on to a later pair; a later pass catches up.
	gone, carried, failed bool
}

// carry carries the health of every webhook of todo in a new pair, together, so that a pass waits
// for the webhooks read model twice whatever the number of webhooks, and then removes the streams
// of the pairs the new ones supersede. It fails only when the read model cannot be read or ctx
// ends; a webhook whose pair goes wrong is logged and left to a later pass.
func (s *Sweeper) carry(ctx context.Context, todo []*carrying) error {
	failed := func(c *carrying, err error) {
		c.failed = true
		s.cfg.Logger.Warn("retention: carrying endpoint health failed; its deliveries wait for a later pass",
			"webhook", c.id, "pair", c.pair, "error", err)
	}
	for _, c := range todo {
		if err := s.cfg.Endpoints.MarkHealth(ctx, c.id, c.pair); err != nil {
			failed(c, err)
		}
	}
	if err := s.await(ctx, todo, failed, func(c *carrying) bool { return c.now.Marked >= c.pair }); err != nil {
		return err
	}
	var remove []eventstore.StreamAt
	for _, c := range todo {
		switch {
		case c.failed, c.gone:
		case c.now.Marked != c.pair:
			c.failed = true // another node went on to a later pair
		default:
			// Without a health at the marker, enabling the webhook started it afresh since: the
			// carrier then only closes the pair.
			var h webhook.Health
			if c.now.AtMark != nil {
				h = *c.now.AtMark
			}
			if err := s.cfg.Endpoints.CarryHealth(ctx, c.id, c.pair, h); err != nil {
				failed(c, err)
			}
		}
	}
	if err := s.await(ctx, todo, failed, func(c *carrying) bool { return c.now.Carried >= c.pair }); err != nil {
		return err
	}
	for _, c := range todo {
		switch {
		case c.failed:
			if c.now.Carried > c.pair {
				// Other nodes carried this pair and a later one meanwhile, and may have removed
				// it: then this pass's marker made its stream again, which no later pass would
				// reach. It is superseded, whatever it holds.
				remove = append(remove, eventstore.StreamAt{Stream: webhook.HealthStream(c.id, c.pair)})
			}
			continue
		case c.gone:
			// Deleted meanwhile: nothing of its health is left to carry, nor is the pair of use.
			remove = append(remove, eventstore.StreamAt{Stream: webhook.HealthStream(c.id, c.pair)})
			continue
		}
		c.carried = true
		// The pairs before this one: the last carried (and the one before, should a pass have
		// stopped before removing it), and those marked but not carried when this pass began.
		for p := max(c.before.Carried, 2) - 1; p < c.pair; p++ {
			revision := uint64(1)
			if p > c.before.Carried {
				revision = 0
			}
			remove = append(remove, eventstore.StreamAt{Stream: webhook.HealthStream(c.id, p), Revision: revision})
		}
	}
	if len(remove) == 0 {
		return nil
	}
	kept, err := s.cfg.Log.DeleteStreams(ctx, remove, eventstore.KeepingUp)
	if err != nil {
		return err
	}
	// A pair holds its marker and at most its carrier, and goes whichever it holds: one left in
	// place at its marker was carried since (by another node, or by this pass before its webhook
	// went), and goes at its carrier.
	kept = slices.DeleteFunc(kept, func(k eventstore.StreamAt) bool { return k.Revision != 0 })
	for i := range kept {
		kept[i].Revision = 1
	}
	if len(kept) > 0 {
		_, err = s.cfg.Log.DeleteStreams(ctx, kept, eventstore.KeepingUp)
	}
	return err
}

// await polls the webhooks read model until done holds for each webhook of todo still in play, or
// it is gone; those it did not apply within CarryWait fail.
func (s *Sweeper) await(ctx context.Context, todo []*carrying, failed func(*carrying, error), done func(*carrying) bool) error {
	deadline := time.Now().Add(s.cfg.CarryWait)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		waiting := 0
		for _, c := range todo {
			if c.failed || c.gone || done(c) {
				continue
			}
			now, exists, err := s.cfg.Endpoints.Carrying(ctx, c.tenant, c.community, c.id)
			if err != nil {
				return err
			}
			c.now, c.gone = now, !exists
			if !c.gone && !done(c) {
				waiting++
			}
		}
		if waiting == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, c := range todo {
				if !c.failed && !c.gone && !done(c) {
					failed(c, fmt.Errorf("the webhooks read model did not apply its health carry within %v", s.cfg.CarryWait))
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// removeDeliveries deletes the streams of batch, then the rows of those gone, then the events they
// were made from that have no delivery left.
func (s *Sweeper) removeDeliveries(ctx context.Context, batch []Delivery, cutoff, now time.Time) (int, error) {
	at := make([]eventstore.StreamAt, len(batch))
	for i, d := range batch {
		at[i] = eventstore.StreamAt{Stream: delivery.Stream(d.ID), Revision: d.Version}
	}
	oldest := batch[0].UpdatedAt
	for _, d := range batch {
		if d.UpdatedAt.Before(oldest) {
			oldest = d.UpdatedAt
		}
	}
	pace := s.pace(cutoff, oldest)
	kept, err := s.cfg.Log.DeleteStreams(ctx, at, pace)
	if err != nil {
		return 0, err
	}
	stay := make(map[string]bool, len(kept))
	for _, k := range kept {
		stay[k.Stream] = true
	}
	gone := make([]Delivery, 0, len(batch))
	events := map[string]bool{}
	for _, d := range batch {
		if !stay[delivery.Stream(d.ID)] {
			gone = append(gone, d)
			events[d.EventID] = true
		}
	}
	if err := s.cfg.Deliveries.Forget(ctx, gone, now); err != nil {
		return 0, err
	}
	var orphans []eventstore.StreamAt
	for id := range events {
		has, err := s.cfg.Deliveries.HasDeliveriesOf(ctx, id)
		if err != nil {
			return len(gone), err
		}
		if !has {
			// A published event is its stream's only event.
			orphans = append(orphans, eventstore.StreamAt{Stream: publication.Stream(id), Revision: 0})
		}
	}
	if len(orphans) == 0 {
		return len(gone), nil
	}
	kept, err = s.cfg.Log.DeleteStreams(ctx, orphans, pace)
	return len(gone) + len(orphans) - len(kept), err
}

// pace says how hard deleting what expired at the latest at cutoff, the oldest of it last changed
// at oldest, may press on the log. A sweeper that keeps up finds deliveries within about an
// Interval of their expiry, since a pass runs at least that often; one that finds them later than
// two Intervals is falling behind what expires, and must take its share of the log so that the
// space it takes has a ceiling. Keeping up, it lets the appends go first.
func (s *Sweeper) pace(cutoff, oldest time.Time) eventstore.Pace {
	if cutoff.Sub(oldest) > 2*s.cfg.Interval {
		return eventstore.Behind
	}
	return eventstore.KeepingUp
}

// walkEvents goes on through the log from where it stopped, up to the settled position and to the
// events recorded before cutoff, and removes each published event that no delivery was kept of:
// those no webhook listened to, and those whose deliveries went before the walk came by.
func (s *Sweeper) walkEvents(ctx context.Context, cutoff time.Time) (int, error) {
	settled, err := s.cfg.Settled(ctx)
	if err != nil {
		return 0, err
	}
	removed := 0
	for {
		page, err := s.cfg.Log.ReadAll(ctx, s.walked, 256)
		if err != nil {
			return removed, err
		}
		var (
			orphans []eventstore.StreamAt
			oldest  time.Time
		)
		last := s.walked
		for _, r := range page {
			if settled.Before(r.Position) || !r.Created.Before(cutoff) {
				break
			}
			last = r.Position
			if r.Type != publication.EventPublished || !strings.HasPrefix(r.Stream, publication.StreamPrefix) {
				continue
			}
			has, err := s.cfg.Deliveries.HasDeliveriesOf(ctx, strings.TrimPrefix(r.Stream, publication.StreamPrefix))
			if err != nil {
				return removed, err
			}
			if !has {
				if len(orphans) == 0 || r.Created.Before(oldest) {
					oldest = r.Created
				}
				orphans = append(orphans, eventstore.StreamAt{Stream: r.Stream, Revision: r.Revision})
			}
		}
		if len(orphans) > 0 {
			kept, err := s.cfg.Log.DeleteStreams(ctx, orphans, s.pace(cutoff, oldest))
			removed += len(orphans) - len(kept)
			if err != nil {
				return removed, err
			}
		}
		if last == s.walked {
			return removed, nil
		}
		s.walked = last
	}
}
