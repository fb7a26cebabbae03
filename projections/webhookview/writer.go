package webhookview

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections"
)

// The statements Apply runs, by index into writer.queries.
const (
	qInsert = iota
	qLoad
	qSetSettings
	qSetDisabled
	qSetSecret
	qDelete
	qTagKey
	qNewTagKey
	qAddTags
	qRemoveTags
	qAddToBucket
	qDropEmptyBucket
	qLoadCounts
	qSaveCounts
	qSubscribe
	qUnsubscribe
	qSetVersion
	qLoadHealth
	qSaveHealth
	qDeleteHealth
	qCount
)

// queries are the statements of Apply for the tables of s. A change patches the stored JSON with
// json_set rather than decoding and encoding it in Go, which would cost more than the rest of applying
// it; the paths are the JSON names of Webhook's fields.
func queries(s projections.Schema) [qCount]string {
	webhooks, tags, counts, buckets := s.Table(tableWebhooks), s.Table(tableTags), s.Table(tableCounts), s.Table(tableBuckets)
	subscribers := s.Table(tableSubscribers)
	return [qCount]string{
		qInsert: `INSERT INTO ` + webhooks + ` (id, tenant, community, version, tags, events, disabled, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING seq`,
		qLoad: `SELECT seq, tenant, community, version, tags, events, disabled FROM ` + webhooks + ` WHERE id = ?`,
		qSetSettings: `UPDATE ` + webhooks + ` SET version = ?1, tags = ?2, events = ?3,
			data = json_set(data, '$.settings', json(?4), '$.updatedAt', ?5, '$.version', ?1) WHERE seq = ?6`,
		qSetDisabled: `UPDATE ` + webhooks + ` SET version = ?1, disabled = ?2,
			data = json_set(data, '$.disabled', json(?3), '$.updatedAt', ?4, '$.version', ?1) WHERE seq = ?5`,
		qSetSecret: `UPDATE ` + webhooks + ` SET version = ?1,
			data = json_set(data, '$.secret', ?2, '$.previousSecret', ?3, '$.previousSecretExpiresAt', ?4,
				'$.updatedAt', ?5, '$.version', ?1) WHERE seq = ?6`,
		qDelete:    `DELETE FROM ` + webhooks + ` WHERE seq = ?`,
		qTagKey:    `SELECT key FROM ` + counts + ` WHERE tenant = ? AND community = ? AND tag = ?`,
		qNewTagKey: `INSERT INTO ` + counts + ` (tenant, community, tag, total, blocks, changed) VALUES (?, ?, ?, 0, x'', '') RETURNING key`,
		// A webhook's tags are added and removed in one statement each, from a JSON array of their keys.
		qAddTags:    `INSERT INTO ` + tags + ` (key, seq) SELECT value, ?1 FROM json_each(?2)`,
		qRemoveTags: `DELETE FROM ` + tags + ` WHERE key IN (SELECT value FROM json_each(?2)) AND seq = ?1`,
		qAddToBucket: `INSERT INTO ` + buckets + ` (key, bucket, n) VALUES (?, ?, ?)
			ON CONFLICT (key, bucket) DO UPDATE SET n = n + excluded.n`,
		qDropEmptyBucket: `DELETE FROM ` + buckets + ` WHERE key = ? AND bucket = ? AND n <= 0`,
		qLoadCounts:      `SELECT total, blocks FROM ` + counts + ` WHERE key = ?`,
		qSaveCounts:      `UPDATE ` + counts + ` SET total = ?, blocks = ?, changed = ? WHERE key = ?`,
		// A webhook's event names, a JSON array, are subscribed and unsubscribed in one statement each.
		// "WHERE true" tells SQLite's parser that ON CONFLICT is the upsert's, not a join's.
		qSubscribe: `INSERT INTO ` + subscribers + ` (tenant, community, event, seq)
			SELECT ?1, ?2, value, ?3 FROM json_each(?4) WHERE true ON CONFLICT DO NOTHING`,
		qUnsubscribe: `DELETE FROM ` + subscribers + ` WHERE tenant = ?1 AND community = ?2 AND seq = ?3
			AND event IN (SELECT value FROM json_each(?4))`,
		// A circuit's change moves the webhook's version, not its updatedAt: it is no change of the
		// subscription.
		qSetVersion:   `UPDATE ` + webhooks + ` SET version = ?1, data = json_set(data, '$.version', ?1) WHERE seq = ?2`,
		qLoadHealth:   `SELECT data FROM ` + s.Table(tableHealth) + ` WHERE id = ?`,
		qSaveHealth:   `INSERT INTO ` + s.Table(tableHealth) + ` (id, data) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET data = ?2`,
		qDeleteHealth: `DELETE FROM ` + s.Table(tableHealth) + ` WHERE id = ?`,
	}
}

// tagName names a tag of a community.
type tagName struct{ tenant, community, tag string }

// bucketKey names one row of webhook_tag_buckets.
type bucketKey struct{ key, bucket int64 }

// tagChanges is what a batch did to a tag's counts.
type tagChanges struct {
	blocks  map[int64]int64 // count delta by block
	changed eventlog.Position
}

// writer applies one batch within its transaction. Statements are prepared on first use, because a
// live batch is often a single event and a rebuild batch thousands; counts are summed in memory and
// written once per batch.
type writer struct {
	tx       *sql.Tx
	queries  [qCount]string
	stmts    [qCount]*sql.Stmt
	position eventlog.Position // of the event being applied
	// keys caches the tags' keys for the batch. Not longer: another build's tables number them anew.
	keys    map[tagName]int64
	buckets map[bucketKey]int64
	tags    map[int64]*tagChanges // by key
	// health holds the health of the webhooks the batch changed, written once at its end; nil for
	// a webhook whose row is to go.
	health map[string]*healthRow
}

func newWriter(tx *sql.Tx, s projections.Schema) *writer {
	return &writer{tx: tx, queries: queries(s), keys: make(map[tagName]int64),
		buckets: make(map[bucketKey]int64), tags: make(map[int64]*tagChanges), health: make(map[string]*healthRow)}
}

func (w *writer) stmt(ctx context.Context, q int) (*sql.Stmt, error) {
	if w.stmts[q] == nil {
		stmt, err := w.tx.PrepareContext(ctx, w.queries[q])
		if err != nil {
			return nil, err
		}
		w.stmts[q] = stmt
	}
	return w.stmts[q], nil
}

func (w *writer) exec(ctx context.Context, q int, args ...any) error {
	stmt, err := w.stmt(ctx, q)
	if err != nil {
		return err
	}
	_, err = stmt.ExecContext(ctx, args...)
	return err
}

func (w *writer) close() {
	for _, stmt := range w.stmts {
		if stmt != nil {
			_ = stmt.Close()
		}
	}
}

func (w *writer) apply(ctx context.Context, r eventlog.RecordedEvent, e interface{ EventName() string }, md eventlog.Metadata) error {
	w.position = r.Position
	switch e := e.(type) {
	case webhook.Created:
		return w.create(ctx, r, e, md)
	case webhook.Updated:
		return w.update(ctx, r, e, md)
	case webhook.Disabled:
		if err := w.setDisabled(ctx, r, e.WebhookID, true, md); err != nil || e.Reason == "" {
			return err
		}
		return w.disabledFor(ctx, e)
	case webhook.Enabled:
		return w.setDisabled(ctx, r, e.WebhookID, false, md)
	case webhook.Deleted:
		return w.remove(ctx, r, e.WebhookID)
	case webhook.SecretRotated:
		return w.rotate(ctx, r, e, md)
	case webhook.CircuitOpened, webhook.CircuitClosed:
		return w.circuit(ctx, r, e)
	case delivery.Attempted:
		return w.attempted(ctx, e)
	case webhook.HealthMarked:
		return w.marked(ctx, r, e)
	case webhook.HealthCarried:
		return w.carried(ctx, e)
	}
	return fmt.Errorf("unexpected event %s of type %T", e.EventName(), e)
}

func (w *writer) create(ctx context.Context, r eventlog.RecordedEvent, e webhook.Created, md eventlog.Metadata) error {
	h := Webhook{
		ID:          e.WebhookID,
		TenantID:    e.TenantID,
		CommunityID: e.CommunityID,
		Settings:    e.Settings,
		Disabled:    e.Disabled,
		CreatedBy:   e.CreatedBy,
		Secret:      e.Secret,
		Stream:      r.Stream,
		CreatedAt:   md.OccurredAt,
		UpdatedAt:   md.OccurredAt,
		Version:     r.Revision,
	}
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	tags, err := json.Marshal(h.Settings.Tags)
	if err != nil {
		return err
	}
	events := nameSet(h.Settings.EventNames)
	eventsJSON, err := json.Marshal(events)
	if err != nil {
		return err
	}
	stmt, err := w.stmt(ctx, qInsert)
	if err != nil {
		return err
	}
	var seq int64
	// The JSON goes in as text: SQLite's JSON functions would read a blob as its binary JSON.
	err = stmt.QueryRowContext(ctx, h.ID, h.TenantID, h.CommunityID, h.Version, string(tags), string(eventsJSON),
		h.Disabled, string(data)).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // created before: this event was applied already
	}
	if err != nil {
		return err
	}
	if !h.Disabled {
		if err := w.subscribe(ctx, qSubscribe, h.TenantID, h.CommunityID, seq, events); err != nil {
			return err
		}
	}
	return w.addTags(ctx, h.TenantID, h.CommunityID, seq, tagSet(h.Settings.Tags))
}

func (w *writer) update(ctx context.Context, r eventlog.RecordedEvent, e webhook.Updated, md eventlog.Metadata) error {
	h, found, err := w.load(ctx, e.WebhookID)
	if err != nil || !found || r.Revision <= h.version {
		return err
	}
	after := tagSet(e.Settings.Tags)
	if err := w.removeTags(ctx, h.tenant, h.community, h.seq, diff(h.tags, after)); err != nil {
		return err
	}
	if err := w.addTags(ctx, h.tenant, h.community, h.seq, diff(after, h.tags)); err != nil {
		return err
	}
	events := nameSet(e.Settings.EventNames)
	if !h.disabled {
		if err := w.subscribe(ctx, qUnsubscribe, h.tenant, h.community, h.seq, diff(h.events, events)); err != nil {
			return err
		}
		if err := w.subscribe(ctx, qSubscribe, h.tenant, h.community, h.seq, diff(events, h.events)); err != nil {
			return err
		}
	}
	settings, err := json.Marshal(e.Settings)
	if err != nil {
		return err
	}
	tags, err := json.Marshal(e.Settings.Tags)
	if err != nil {
		return err
	}
	eventsJSON, err := json.Marshal(events)
	if err != nil {
		return err
	}
	return w.exec(ctx, qSetSettings, r.Revision, string(tags), string(eventsJSON), string(settings), jsonTime(md), h.seq)
}

func (w *writer) setDisabled(ctx context.Context, r eventlog.RecordedEvent, id string, disabled bool, md eventlog.Metadata) error {
	h, found, err := w.load(ctx, id)
	if err != nil || !found || r.Revision <= h.version {
		return err
	}
	switch {
	case disabled && !h.disabled:
		err = w.subscribe(ctx, qUnsubscribe, h.tenant, h.community, h.seq, h.events)
	case !disabled && h.disabled:
		err = w.subscribe(ctx, qSubscribe, h.tenant, h.community, h.seq, h.events)
	}
	if err != nil {
		return err
	}
	if !disabled {
		// Enabled again, the endpoint starts afresh: its failures before are no reason to disable it
		// or open its circuit.
		if err := w.restart(ctx, id); err != nil {
			return err
		}
	}
	return w.exec(ctx, qSetDisabled, r.Revision, disabled, strconv.FormatBool(disabled), jsonTime(md), h.seq)
}

// jsonTime renders the event's time as encoding/json renders a time.Time.
func jsonTime(md eventlog.Metadata) string { return md.OccurredAt.Format(time.RFC3339Nano) }

func (w *writer) remove(ctx context.Context, r eventlog.RecordedEvent, id string) error {
	h, found, err := w.load(ctx, id)
	if err != nil || !found || r.Revision <= h.version {
		return err
	}
	if err := w.removeTags(ctx, h.tenant, h.community, h.seq, h.tags); err != nil {
		return err
	}
	w.health[id] = nil
	if !h.disabled {
		if err := w.subscribe(ctx, qUnsubscribe, h.tenant, h.community, h.seq, h.events); err != nil {
			return err
		}
	}
	return w.exec(ctx, qDelete, h.seq)
}

// rotate keeps the new secret and the one it replaced, both sealed as the event holds them, and the
// time the replaced one expires.
func (w *writer) rotate(ctx context.Context, r eventlog.RecordedEvent, e webhook.SecretRotated, md eventlog.Metadata) error {
	h, found, err := w.load(ctx, e.WebhookID)
	if err != nil || !found || r.Revision <= h.version {
		return err
	}
	return w.exec(ctx, qSetSecret, r.Revision, e.Secret, e.PreviousSecret,
		e.PreviousExpiresAt.Format(time.RFC3339Nano), jsonTime(md), h.seq)
}

// subscribe runs qSubscribe or qUnsubscribe for the event names given of the webhook at seq.
func (w *writer) subscribe(ctx context.Context, q int, tenant, community string, seq int64, events []string) error {
	if len(events) == 0 {
		return nil
	}
	list, err := json.Marshal(events)
	if err != nil {
		return err
	}
	return w.exec(ctx, q, tenant, community, seq, string(list))
}

// stored is what changing a stored webhook takes: where it is, its version, its tags, its event names
// and whether it is disabled.
type stored struct {
	seq               int64
	tenant, community string
	version           uint64
	tags              []string // as tagSet returns them
	events            []string // as nameSet returns them
	disabled          bool
}

func (w *writer) load(ctx context.Context, id string) (h stored, found bool, err error) {
	stmt, err := w.stmt(ctx, qLoad)
	if err != nil {
		return h, false, err
	}
	var tags, events []byte
	err = stmt.QueryRowContext(ctx, id).Scan(&h.seq, &h.tenant, &h.community, &h.version, &tags, &events, &h.disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, err
	}
	var list []string
	if err := json.Unmarshal(tags, &list); err != nil {
		return h, false, fmt.Errorf("stored tags of webhook %s: %w", id, err)
	}
	h.tags = tagSet(list)
	if err := json.Unmarshal(events, &h.events); err != nil {
		return h, false, fmt.Errorf("stored event names of webhook %s: %w", id, err)
	}
	return h, true, nil
}

func (w *writer) addTags(ctx context.Context, tenant, community string, seq int64, tags []string) error {
	return w.changeTags(ctx, qAddTags, tenant, community, seq, tags, 1)
}

func (w *writer) removeTags(ctx context.Context, tenant, community string, seq int64, tags []string) error {
	return w.changeTags(ctx, qRemoveTags, tenant, community, seq, tags, -1)
}

// changeTags adds the row of seq to the tags given (delta 1) or takes it from them (delta -1).
func (w *writer) changeTags(ctx context.Context, q int, tenant, community string, seq int64, tags []string, delta int64) error {
	if len(tags) == 0 {
		return nil
	}
	list := make([]byte, 0, 8*len(tags))
	list = append(list, '[')
	for i, tag := range tags {
		key, err := w.tagKey(ctx, tagName{tenant, community, tag})
		if err != nil {
			return err
		}
		if i > 0 {
			list = append(list, ',')
		}
		list = strconv.AppendInt(list, key, 10)
		w.count(key, seq, delta)
	}
	list = append(list, ']')
	return w.exec(ctx, q, seq, string(list))
}

// tagKey returns the key of a tag of a community, numbering it when it is new. A key stays with its
// tag, even when no webhook carries it any more, so that a build numbers tags the same way whatever
// its batches were.
func (w *writer) tagKey(ctx context.Context, name tagName) (int64, error) {
	if key, ok := w.keys[name]; ok {
		return key, nil
	}
	stmt, err := w.stmt(ctx, qTagKey)
	if err != nil {
		return 0, err
	}
	var key int64
	err = stmt.QueryRowContext(ctx, name.tenant, name.community, name.tag).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		if stmt, err = w.stmt(ctx, qNewTagKey); err != nil {
			return 0, err
		}
		err = stmt.QueryRowContext(ctx, name.tenant, name.community, name.tag).Scan(&key)
	}
	if err != nil {
		return 0, err
	}
	w.keys[name] = key
	return key, nil
}

// count notes that the row of seq joined (delta 1) or left (delta -1) the tag with key.
func (w *writer) count(key, seq, delta int64) {
	w.buckets[bucketKey{key, seq >> bucketBits}] += delta
	c := w.tags[key]
	if c == nil {
		c = &tagChanges{blocks: make(map[int64]int64)}
		w.tags[key] = c
	}
	c.blocks[seq>>blockBits] += delta
	c.changed = w.position
}

// flushCounts adds the batch's changes to the counts, and drops the buckets left empty.
func (w *writer) flushCounts(ctx context.Context) error {
	for k, delta := range w.buckets {
		if delta == 0 {
			continue
		}
		if err := w.exec(ctx, qAddToBucket, k.key, k.bucket, delta); err != nil {
			return fmt.Errorf("webhookview: counting: %w", err)
		}
		if delta < 0 {
			if err := w.exec(ctx, qDropEmptyBucket, k.key, k.bucket); err != nil {
				return fmt.Errorf("webhookview: counting: %w", err)
			}
		}
	}
	for key, c := range w.tags {
		if err := w.saveCounts(ctx, key, c); err != nil {
			return fmt.Errorf("webhookview: counting: %w", err)
		}
	}
	return nil
}

func (w *writer) saveCounts(ctx context.Context, key int64, c *tagChanges) error {
	stmt, err := w.stmt(ctx, qLoadCounts)
	if err != nil {
		return err
	}
	var (
		total  int64
		packed []byte
	)
	if err := stmt.QueryRowContext(ctx, key).Scan(&total, &packed); err != nil {
		return err
	}
	blocks, err := decodeBlocks(packed)
	if err != nil {
		return err
	}
	for block, delta := range c.blocks {
		if delta != 0 {
			blocks = blocks.add(block, delta)
			total += delta
		}
	}
	return w.exec(ctx, qSaveCounts, total, blocks.encode(), c.changed.String(), key)
}
