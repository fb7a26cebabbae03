package webhookview

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hookd/hookd/domain/webhook"
)

// FetchQuery selects a page of a community's webhooks.
type FetchQuery struct {
	TenantID    string
	CommunityID string
	// Tags, when given, keep the webhooks that carry every one of them.
	Tags []string
	// PageIndex counts pages from 0; PageSize is at least 1. The view puts no upper bound on the page
	// size: the caller does (the API allows 1 to 100).
	PageIndex int
	PageSize  int
	// Health, when set, fills each webhook's Health: one lookup by id per webhook of the page.
	Health bool
}

// Page is one page of webhooks, in creation order.
type Page struct {
	// Total counts every webhook that matches the query, on every page.
	Total int
	Items []Webhook
}

// Fetch returns a page of the community's webhooks that carry every tag asked for, oldest first. The
// count and the page come from the same snapshot of the view. The webhooks returned are the caller's
// to change. With no tag or one, a fetch costs a few lookups and a page's rows, whatever the page;
// with several, see the package comment.
func (v *View) Fetch(ctx context.Context, q FetchQuery) (Page, error) {
	if q.PageIndex < 0 || q.PageSize < 1 {
		return Page{}, fmt.Errorf("webhookview: page index %d and size %d: need index >= 0 and size >= 1",
			q.PageIndex, q.PageSize)
	}
	tags := []string{allTag}
	if len(q.Tags) > 0 {
		tags = slices.Compact(slices.Sorted(slices.Values(q.Tags)))
		if tags[0] == "" {
			return Page{Items: []Webhook{}}, nil // no webhook carries an empty tag
		}
	}
	var page Page
	err := v.read(ctx, q.TenantID, q.CommunityID, func(f fetcher) (err error) {
		if len(tags) == 1 {
			page, err = f.oneTag(tags[0], q.PageIndex, q.PageSize)
		} else {
			page, err = f.allTags(tags, q.PageIndex, q.PageSize)
		}
		for i := 0; err == nil && q.Health && i < len(page.Items); i++ {
			var h healthRow
			h, err = f.health(page.Items[i].ID)
			page.Items[i].Health = h.Health
		}
		return err
	})
	if err != nil {
		return Page{}, fmt.Errorf("webhookview: fetch: %w", err)
	}
	return page, nil
}

// Get returns the webhook id of the tenant and community given, with its Health, or
// webhook.ErrNotFound when there is none: never created, deleted, or in another tenant or community.
// The webhook returned is the caller's to change.
func (v *View) Get(ctx context.Context, tenantID, communityID, id string) (Webhook, error) {
	var items []Webhook
	err := v.read(ctx, tenantID, communityID, func(f fetcher) (err error) {
		items, err = f.webhooks(`SELECT seq, id, version FROM `+tableWebhooks+` WHERE id = ? AND tenant = ? AND community = ?`,
			id, tenantID, communityID)
		if err != nil || len(items) == 0 {
			return err
		}
		h, err := f.health(id)
		items[0].Health = h.Health
		return err
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("webhookview: get: %w", err)
	}
	if len(items) == 0 {
		return Webhook{}, webhook.ErrNotFound
	}
	return items[0], nil
}

// Subscribers returns the enabled webhooks of the tenant and community given that subscribe to
// eventName, oldest first: the webhooks an event of that name may go to, before their queries are
// matched against its payload (webhook.Settings.Matches). Disabled and deleted webhooks are not
// among them. Its cost grows with the webhooks returned, not with the others of the community. The
// webhooks returned are the caller's to change.
func (v *View) Subscribers(ctx context.Context, tenantID, communityID, eventName string) ([]Webhook, error) {
	var items []Webhook
	err := v.read(ctx, tenantID, communityID, func(f fetcher) (err error) {
		items, err = f.webhooks(subscribersQuery, tenantID, communityID, eventName)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("webhookview: subscribers: %w", err)
	}
	return items, nil
}

// subscribersQuery selects the rows of Subscribers: a range of webhook_subscribers' key, each joined
// to its webhook by seq.
const subscribersQuery = `SELECT s.seq, w.id, w.version FROM ` + tableSubscribers + ` s JOIN ` + tableWebhooks + ` w ON w.seq = s.seq
	WHERE s.tenant = ? AND s.community = ? AND s.event = ? ORDER BY s.seq`

// read runs queries in one read transaction, so that they see the same snapshot.
func (v *View) read(ctx context.Context, tenant, community string, queries func(fetcher) error) error {
	// Read-only: the driver then begins a deferred transaction even when the DSN asks for immediate
	// ones, so a read never waits for the write lock.
	tx, err := v.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	var missed []string
	err = queries(fetcher{ctx: ctx, tx: tx, view: v, tenant: tenant, community: community, missed: &missed})
	_ = tx.Rollback()
	// Queries the cache did not hold are prepared for the next reads only now, with the
	// transaction's connection back in the pool: preparing them while holding it would take a second
	// connection, and enough concurrent reads doing so would wait for each other forever.
	for _, q := range missed {
		if _, perr := v.stmts.Get(ctx, q); perr != nil {
			break // the next read tries again
		}
	}
	return err
}

// fetcher runs the queries of one Fetch, Get or Subscribers in its read transaction.
type fetcher struct {
	ctx               context.Context
	tx                *sql.Tx
	view              *View
	tenant, community string
	// missed collects the queries prepared on the transaction alone, for read to cache.
	missed *[]string
}

// stmt returns query prepared for the transaction: from the view's cache when it holds it, or else
// on the transaction's own connection, never on another one from the pool.
func (f fetcher) stmt(query string) (*sql.Stmt, error) {
	if stmt, ok := f.view.stmts.Lookup(query); ok {
		return f.tx.StmtContext(f.ctx, stmt), nil
	}
	*f.missed = append(*f.missed, query)
	return f.tx.PrepareContext(f.ctx, query)
}

// tagCounts is a tag's row of webhook_tag_counts; the zero value stands for a tag nobody carries.
type tagCounts struct {
	key     int64
	total   int64
	blocks  []byte // packed blockCounts
	changed string
}

func (f fetcher) counts(tag string) (tagCounts, error) {
	stmt, err := f.stmt(`SELECT key, total, blocks, changed FROM ` + tableCounts + ` WHERE tenant = ? AND community = ? AND tag = ?`)
	if err != nil {
		return tagCounts{}, err
	}
	var c tagCounts
	err = stmt.QueryRowContext(f.ctx, f.tenant, f.community, tag).Scan(&c.key, &c.total, &c.blocks, &c.changed)
	if errors.Is(err, sql.ErrNoRows) {
		return tagCounts{}, nil
	}
	return c, err
}

// oneTag pages through the rows of one tag. The page starts in the block where the running sum of
// the blocks passes its offset, and in that block, in the bucket where the running sum of the
// buckets does; from there, fewer than 64 rows are skipped.
func (f fetcher) oneTag(tag string, index, size int) (Page, error) {
	c, err := f.counts(tag)
	if err != nil {
		return Page{}, err
	}
	page := Page{Total: int(c.total), Items: []Webhook{}}
	if int64(index) >= (c.total+int64(size)-1)/int64(size) {
		return page, nil
	}
	offset, from := int64(index)*int64(size), int64(0)
	if offset > 0 {
		blocks, err := decodeBlocks(c.blocks)
		if err != nil {
			return Page{}, err
		}
		block, before, ok := blocks.locate(offset)
		if !ok {
			return Page{}, fmt.Errorf("the counts of tag %q end before row %d", tag, offset)
		}
		offset -= before
		if from, offset, err = f.locateBucket(c.key, block, offset); err != nil {
			return Page{}, err
		}
	}
	page.Items, err = f.webhooks(`SELECT t.seq, w.id, w.version FROM (
			SELECT seq FROM `+tableTags+` WHERE key = ? AND seq >= ? ORDER BY seq LIMIT ? OFFSET ?
		) t JOIN `+tableWebhooks+` w ON w.seq = t.seq ORDER BY t.seq`,
		c.key, from, size, offset)
	return page, err
}

// locateBucket finds, among the buckets of block of the tag with key, the one that holds the row at
// offset (counted from the block's start), and returns its first seq and the offset from there.
func (f fetcher) locateBucket(key, block, offset int64) (from, rest int64, err error) {
	stmt, err := f.stmt(`SELECT bucket, n FROM ` + tableBuckets + ` WHERE key = ? AND bucket >= ? AND bucket < ? ORDER BY bucket`)
	if err != nil {
		return 0, 0, err
	}
	first := block * bucketsPerBlock
	rows, err := stmt.QueryContext(f.ctx, key, first, first+bucketsPerBlock)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var bucket, n int64
		if err := rows.Scan(&bucket, &n); err != nil {
			return 0, 0, err
		}
		if offset < n {
			return bucket << bucketBits, offset, nil
		}
		offset -= n
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("the buckets of tag key %d in block %d hold fewer rows than its count", key, block)
}

// allTags pages through the rows of the rarest tag and keeps those that carry the other tags too.
func (f fetcher) allTags(tags []string, index, size int) (Page, error) {
	page := Page{Items: []Webhook{}}
	changed := make([]string, len(tags))
	keys := make([]int64, len(tags))
	rarest, fewest := 0, int64(-1)
	for i, tag := range tags {
		c, err := f.counts(tag)
		if err != nil {
			return Page{}, err
		}
		if c.total == 0 {
			return page, nil
		}
		changed[i], keys[i] = c.changed, c.key
		if fewest < 0 || c.total < fewest {
			rarest, fewest = i, c.total
		}
	}
	// The rarest tag drives; each of the others is one lookup per row.
	args := []any{keys[rarest]}
	var where strings.Builder
	where.WriteString(`t.key = ?1`)
	for i, key := range keys {
		if i == rarest {
			continue
		}
		args = append(args, key)
		fmt.Fprintf(&where, ` AND EXISTS (SELECT 1 FROM %s o WHERE o.key = ?%d AND o.seq = t.seq)`, tableTags, len(args))
	}

	key := strings.Join(append([]string{f.tenant, f.community}, tags...), "\x00")
	if cached, ok := f.view.totals.Get(key); ok && slices.Equal(cached.changed, changed) {
		page.Total = cached.total
	} else {
		stmt, err := f.stmt(`SELECT count(*) FROM ` + tableTags + ` t WHERE ` + where.String())
		if err != nil {
			return Page{}, err
		}
		if err := stmt.QueryRowContext(f.ctx, args...).Scan(&page.Total); err != nil {
			return Page{}, err
		}
		f.view.totals.Put(key, cachedTotal{changed: changed, total: page.Total})
	}
	if index >= (page.Total+size-1)/size {
		return page, nil
	}
	var err error
	page.Items, err = f.webhooks(fmt.Sprintf(`SELECT t.seq, w.id, w.version FROM %s t JOIN %s w ON w.seq = t.seq
		WHERE %s ORDER BY t.seq LIMIT ?%d OFFSET ?%d`, tableTags, tableWebhooks, where.String(), len(args)+1, len(args)+2),
		append(args, size, index*size)...)
	return page, err
}

// pageRow locates one webhook of a page: where it is stored and at which version.
type pageRow struct {
	seq     int64
	id      string
	version uint64
}

// webhooks runs query, which selects (seq, id, version) rows, and returns their webhooks: from the
// cache when it holds them at that version, else read and decoded.
func (f fetcher) webhooks(query string, args ...any) ([]Webhook, error) {
	stmt, err := f.stmt(query)
	if err != nil {
		return nil, err
	}
	rows, err := stmt.QueryContext(f.ctx, args...)
	if err != nil {
		return nil, err
	}
	var found []pageRow
	for rows.Next() {
		var r pageRow
		if err := rows.Scan(&r.seq, &r.id, &r.version); err != nil {
			_ = rows.Close()
			return nil, err
		}
		found = append(found, r)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	items := make([]Webhook, len(found))
	var missing []int // indexes into found of the webhooks the cache does not hold at their version
	for i, r := range found {
		w, ok := f.view.webhooks.Get(r.id)
		if !ok || w.Version != r.version {
			missing = append(missing, i)
			continue
		}
		items[i] = w.clone()
	}
	if len(missing) == 0 {
		return items, nil
	}

	// The missing ones in one query: a page read cold costs one round trip, not one per webhook.
	seqs := make([]byte, 0, 8*len(missing))
	bySeq := make(map[int64]int, len(missing))
	seqs = append(seqs, '[')
	for n, i := range missing {
		if n > 0 {
			seqs = append(seqs, ',')
		}
		seqs = strconv.AppendInt(seqs, found[i].seq, 10)
		bySeq[found[i].seq] = i
	}
	seqs = append(seqs, ']')
	stmt, err = f.stmt(`SELECT seq, data FROM ` + tableWebhooks + ` WHERE seq IN (SELECT value FROM json_each(?))`)
	if err != nil {
		return nil, err
	}
	if rows, err = stmt.QueryContext(f.ctx, string(seqs)); err != nil {
		return nil, err
	}
	defer rows.Close()
	decoded := 0
	for rows.Next() {
		var (
			seq  int64
			data sql.RawBytes // decoded at once, never kept
			w    Webhook
		)
		if err := rows.Scan(&seq, &data); err != nil {
			return nil, err
		}
		i, ok := bySeq[seq]
		if !ok {
			continue
		}
		if err := json.Unmarshal(data, &w); err != nil {
			return nil, fmt.Errorf("stored webhook %s: %w", found[i].id, err)
		}
		f.view.webhooks.Put(w.ID, w)
		items[i] = w.clone()
		decoded++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if decoded != len(missing) {
		// Cannot happen inside one read transaction; checked so that a page never holds empty items.
		return nil, fmt.Errorf("%d of %d webhooks of the page vanished while it was read", len(missing)-decoded, len(missing))
	}
	return items, nil
}
