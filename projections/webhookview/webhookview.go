// Package webhookview is the read model of webhooks: per tenant and community, in creation order, with
// their tags. It answers the management API's fetch and get, and tells the dispatcher which webhooks
// subscribe to an event (Subscribers).
//
// Fetching a page must stay cheap with a hundred thousand webhooks in one community, so no query scans
// or counts a whole community:
//   - webhook_tag_counts numbers the tags of each community, counting the empty tag, under which every
//     webhook of the community is listed (tags themselves are never empty). Per tag it holds the total
//     and the counts per block of 1024 seqs, packed in one value, where seq orders webhooks by
//     creation.
//   - webhook_tags holds one row per webhook and tag, keyed (tag key, seq): a page is a range scan of
//     that key.
//   - webhook_tag_buckets holds the counts per bucket of 64 seqs, 16 to a block. The total is one
//     lookup. Page k starts in the block where the running sum of the blocks passes k*size, then in
//     the bucket where the running sum of that block's buckets does: the range scan skips fewer than
//     64 rows, whatever the page.
//   - Decoding a stored webhook costs more than the rest of a page; a cache keeps decoded webhooks by
//     id and version (see cache.go).
//
// Subscribers is asked for every published event, so its cost must not grow with the webhooks of the
// community that do not listen to the event's name: webhook_subscribers holds one row per enabled
// webhook and event name, keyed (tenant, community, event name, seq), and an answer is one range scan
// of that key. Disabling a webhook takes its rows away, enabling it puts them back, an update changes
// the rows of the names that changed, and a delete takes them away.
//
// Queries answer from what the projections Runner committed. For a query to see a command's effect,
// wait first with the Runner's WaitFor for the position the command's append returned.
//
// A filter with several tags reads its rarest tag's rows and checks the others for each: its cost
// grows with the number of webhooks that carry the rarest tag and with the page index. Its total is
// counted the same way, once: it is cached until the membership of one of its tags changes.
package webhookview

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/bounded"
	"github.com/hookd/hookd/projections"
)

// Name is the projection's name, under which its checkpoint is kept.
const Name = "webhooks"

// The live names of the view's tables.
const (
	tableWebhooks = "webhooks"
	tableTags     = "webhook_tags"
	tableCounts   = "webhook_tag_counts"
	tableBuckets  = "webhook_tag_buckets"
	// tableSubscribers indexes the enabled webhooks by the event names they subscribe to.
	tableSubscribers = "webhook_subscribers"
	// tableHealth holds each webhook's endpoint health (health.go).
	tableHealth = "webhook_health"
)

// A bucket is 64 consecutive seqs and a block 1024, 16 buckets.
const (
	bucketBits      = 6
	blockBits       = 10
	bucketsPerBlock = 1 << (blockBits - bucketBits)
)

// allTag is the tag every webhook of a community is listed under; a real tag is never empty.
const allTag = ""

// Webhook is a webhook as the view keeps it. Its credential fields and its secret are still sealed,
// as the log holds them; open them with the codec's OpenSecret and Stream.
//
// The JSON form is how the view stores the webhook; it is no API.
type Webhook struct {
	ID          string           `json:"id"`
	TenantID    string           `json:"tenantId"`
	CommunityID string           `json:"communityId"`
	Settings    webhook.Settings `json:"settings"`
	Disabled    bool             `json:"disabled"`
	CreatedBy   string           `json:"createdBy"`
	// Secret is sealed.
	Secret string `json:"secret"`
	// PreviousSecret is the secret the last rotation replaced, sealed; empty when the secret was never
	// rotated. It signs deliveries too until PreviousSecretExpiresAt (see ValidSecrets).
	PreviousSecret          string    `json:"previousSecret,omitempty"`
	PreviousSecretExpiresAt time.Time `json:"previousSecretExpiresAt,omitzero"`
	// Stream is the webhook's stream in the log: the associated data its secrets are sealed with.
	Stream string `json:"stream"`
	// CreatedAt and UpdatedAt are the times the events that created and last changed the webhook
	// occurred.
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Version is the revision of the last event applied: the expected version for the next command.
	Version uint64 `json:"version"`
	// Health is the endpoint's health and circuit, which Get fills in; it changes with every attempt,
	// so it is kept apart from the webhook (health.go).
	Health webhook.Health `json:"-"`
}

// ValidSecrets returns the secrets that sign a delivery made at now, still sealed: Secret first, then
// PreviousSecret while now is before PreviousSecretExpiresAt. Open each with the codec's OpenSecret
// and Stream.
func (w Webhook) ValidSecrets(now time.Time) []string {
	return webhook.SecretsValidAt(w.Secret, w.PreviousSecret, w.PreviousSecretExpiresAt, now)
}

// OpenSettings returns a copy of the webhook's settings with the credential opened by open (the
// codec's OpenSecret), for the one who sends with it or may see it.
func (w Webhook) OpenSettings(open func(sealed, stream string) (string, error)) (webhook.Settings, error) {
	s := w.Settings.Clone()
	for _, f := range s.API.Credential.Fields() {
		plain, err := open(*f, w.Stream)
		if err != nil {
			return webhook.Settings{}, fmt.Errorf("opening the credential of webhook %s: %w", w.ID, err)
		}
		*f = plain
	}
	return s, nil
}

// View is the webhooks read model: a projections.Projection and the queries on it. It is safe for
// concurrent use.
type View struct {
	db      *sql.DB
	decoder projections.Decoder
	stmts   *projections.Statements
	// The caches are described in cache.go.
	webhooks *bounded.Map[Webhook]
	totals   *bounded.Map[cachedTotal]
	// changes marks every webhook event Apply is given, for Unchanged.
	changes projections.Changes
}

// New returns the view over db, the read models' database, decoding events with decoder. The tables
// are created by the projections Runner (or a rebuild), not here.
func New(db *sql.DB, decoder projections.Decoder) (*View, error) {
	if db == nil || decoder == nil {
		return nil, errors.New("webhookview: a database and a decoder are required")
	}
	return &View{
		db:       db,
		decoder:  decoder,
		stmts:    projections.NewStatements(db),
		webhooks: bounded.New[Webhook](webhooksCacheSize),
		totals:   bounded.New[cachedTotal](totalsCacheSize),
	}, nil
}

// Name implements projections.Projection.
func (v *View) Name() string { return Name }

// Tables implements projections.Projection.
func (v *View) Tables() []string {
	return []string{tableWebhooks, tableTags, tableCounts, tableBuckets, tableSubscribers, tableHealth}
}

// Setup implements projections.Projection.
func (v *View) Setup(ctx context.Context, tx *sql.Tx, s projections.Schema) error {
	for _, stmt := range []string{
		// seq is the rowid: SQLite gives each new row the largest seq plus one, so seqs follow creation
		// order and a rebuild, applying the same events, hands out the same ones. data is the Webhook
		// as JSON text; version is its Version, which queries read to find a decoded copy in the cache;
		// tags are its tags and events its distinct event names, as JSON arrays, and disabled whether
		// it is, which changing it takes.
		`CREATE TABLE ` + s.Table(tableWebhooks) + ` (
			seq       INTEGER PRIMARY KEY,
			id        TEXT NOT NULL,
			tenant    TEXT NOT NULL,
			community TEXT NOT NULL,
			version   INTEGER NOT NULL,
			tags      TEXT NOT NULL,
			events    TEXT NOT NULL,
			disabled  INTEGER NOT NULL,
			data      TEXT NOT NULL
		)`,
		`CREATE UNIQUE INDEX ` + s.Index("webhooks_id") + ` ON ` + s.Table(tableWebhooks) + ` (id)`,
		// A tag of a community is known by its key in the tables below: integers make their keys
		// short and quick to compare. blocks packs the tag's counts per block (see blockCounts);
		// changed is the log position of the last event that added a webhook to the tag or took one
		// from it.
		`CREATE TABLE ` + s.Table(tableCounts) + ` (
			key       INTEGER PRIMARY KEY,
			tenant    TEXT NOT NULL,
			community TEXT NOT NULL,
			tag       TEXT NOT NULL,
			total     INTEGER NOT NULL,
			blocks    BLOB NOT NULL,
			changed   TEXT NOT NULL
		)`,
		`CREATE UNIQUE INDEX ` + s.Index("webhook_tag_counts_tag") + ` ON ` + s.Table(tableCounts) + ` (tenant, community, tag)`,
		`CREATE TABLE ` + s.Table(tableTags) + ` (
			key INTEGER NOT NULL,
			seq INTEGER NOT NULL,
			PRIMARY KEY (key, seq)
		) WITHOUT ROWID`,
		`CREATE TABLE ` + s.Table(tableBuckets) + ` (
			key    INTEGER NOT NULL,
			bucket INTEGER NOT NULL,
			n      INTEGER NOT NULL,
			PRIMARY KEY (key, bucket)
		) WITHOUT ROWID`,
		// One row per enabled webhook and event name, in creation order within a name of a community.
		`CREATE TABLE ` + s.Table(tableSubscribers) + ` (
			tenant    TEXT NOT NULL,
			community TEXT NOT NULL,
			event     TEXT NOT NULL,
			seq       INTEGER NOT NULL,
			PRIMARY KEY (tenant, community, event, seq)
		) WITHOUT ROWID`,
		// One row per webhook something was sent to: its healthRow as JSON (health.go).
		`CREATE TABLE ` + s.Table(tableHealth) + ` (
			id   TEXT PRIMARY KEY,
			data TEXT NOT NULL
		) WITHOUT ROWID`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("webhookview: setup: %w", err)
		}
	}
	return nil
}

// Unchanged reports whether no webhook event after position at has been applied or is being
// applied (see projections.Changes). It lets callers keep answers they ask for often, such as the
// dispatcher's subscribers.
func (v *View) Unchanged(at eventlog.Position) bool { return v.changes.Unchanged(at) }

// Reads implements projections.Selective: the webhooks' events, and the attempts their health is
// folded from and the pairs that carry it.
func (v *View) Reads(eventType string) bool {
	switch eventType {
	case delivery.EventAttempted, webhook.EventHealthMarked, webhook.EventHealthCarried:
		return true
	}
	return isWebhookEvent(eventType)
}

// ChangesWebhooks reports whether events of the type change a webhook (its version): the events
// that what the dispatcher reads of the view (its candidates) follows. An attempt changes only the
// webhook's health.
func ChangesWebhooks(eventType string) bool { return isWebhookEvent(eventType) }

// isWebhookEvent reports whether events of the type change a webhook (its version); an attempt
// changes only its health.
func isWebhookEvent(eventType string) bool {
	switch eventType {
	case webhook.EventCreated, webhook.EventUpdated, webhook.EventDisabled, webhook.EventEnabled, webhook.EventDeleted,
		webhook.EventSecretRotated, webhook.EventCircuitOpened, webhook.EventCircuitClosed:
		return true
	}
	return false
}

// Apply implements projections.Projection. Events of other types are skipped, and so is an event
// the view has already applied (its revision is not after the webhook's Version) or one for a
// webhook the view does not hold.
func (v *View) Apply(ctx context.Context, tx *sql.Tx, s projections.Schema, events []eventlog.RecordedEvent) error {
	v.changes.Mark(events, isWebhookEvent)
	w := newWriter(tx, s)
	defer w.close()
	decoded, stop := v.decodeAhead(events)
	defer stop()
	for d := range decoded {
		if d.err != nil {
			return fmt.Errorf("webhookview: %w", d.err)
		}
		if err := w.apply(ctx, d.record, d.event, d.metadata); err != nil {
			return fmt.Errorf("webhookview: %s@%d: %w", d.record.Stream, d.record.Revision, err)
		}
	}
	if err := w.flushHealth(ctx); err != nil {
		return fmt.Errorf("webhookview: health: %w", err)
	}
	return w.flushCounts(ctx)
}

// decodedEvent is a webhook event of a batch, decoded; err ends the batch.
type decodedEvent struct {
	record   eventlog.RecordedEvent
	event    interface{ EventName() string }
	metadata eventlog.Metadata
	err      error
}

// decodeAhead decodes the webhook events of a batch on a goroutine of its own, in order, while the
// caller writes the ones decoded before: decoding takes a good part of a rebuild's time and needs no
// database. stop ends the goroutine and waits for it; the channel is closed after the last event or
// after an error.
func (v *View) decodeAhead(events []eventlog.RecordedEvent) (decoded <-chan decodedEvent, stop func()) {
	out := make(chan decodedEvent, 64)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		for _, r := range events {
			if !v.Reads(r.Type) {
				continue
			}
			d := decodedEvent{record: r}
			d.event, d.err = v.decoder.DecodeSealed(r)
			if d.err == nil {
				d.metadata, d.err = v.decoder.DecodeMetadata(r)
			}
			select {
			case out <- d:
			case <-done:
				return
			}
			if d.err != nil {
				return
			}
		}
	})
	return out, func() {
		close(done)
		wg.Wait()
	}
}

// tagSet returns the distinct tags of a webhook with allTag, under which every webhook is listed.
func tagSet(tags []string) []string {
	set := append([]string{allTag}, tags...)
	slices.Sort(set)
	set = slices.Compact(set)
	// A tag is never empty (the aggregate validates it); should one be, allTag already stands there.
	return set
}

// nameSet returns the distinct event names of a webhook, sorted: a name listed twice is subscribed
// once.
func nameSet(names []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(names)))
}

// diff returns what is in a but not in b; both are sorted.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if _, found := slices.BinarySearch(b, s); !found {
			out = append(out, s)
		}
	}
	return out
}
