package deliveryview

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
)

// A page of a community's deliveries must cost the page (and its offset), not the community: each
// Fetch reads an index in the page's order and never sorts, with or without a webhook, in a view
// built now and in one built before the index of a community's deliveries by time, once
// PrepareQueries ran.
func TestFetchNeverSorts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	queries := map[string]FetchQuery{
		"community":          {TenantID: "t", CommunityID: "c"},
		"webhook":            {TenantID: "t", CommunityID: "c", WebhookID: "w"},
		"community filtered": {TenantID: "t", CommunityID: "c", Status: delivery.StatusFailed, EventName: "E"},
	}
	sorts := func(t *testing.T, db *sql.DB) []string {
		var sorted []string
		for name, q := range queries {
			_, page, args := fetchSQL(q)
			if p := readmodeltest.Plan(t, db, page, append(args, 10, 0)...); strings.Contains(p, "TEMP B-TREE") {
				sorted = append(sorted, name+":\n"+p)
			}
		}
		return sorted
	}
	setup := func(t *testing.T) (*View, *sql.DB) {
		db, _ := readmodeltest.TempDB(t)
		v, err := New(db, readmodeltest.Codec(t))
		if err != nil {
			t.Fatal(err)
		}
		readmodeltest.InTx(t, db, func(tx *sql.Tx) error { return v.Setup(ctx, tx, projections.Schema{Build: "plan"}) })
		return v, db
	}
	indexes := func(t *testing.T, db *sql.DB) int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_index_list('`+tableDeliveries+`')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("built now", func(t *testing.T) {
		t.Parallel()
		v, db := setup(t)
		if s := sorts(t, db); len(s) > 0 {
			t.Errorf("Fetch sorts:\n%s", strings.Join(s, "\n"))
		}
		before := indexes(t, db)
		if err := v.PrepareQueries(ctx); err != nil {
			t.Fatal(err)
		}
		if after := indexes(t, db); after != before {
			t.Errorf("PrepareQueries on a view that has the index made %d indexes of %d", after, before)
		}
	})
	t.Run("built before", func(t *testing.T) {
		t.Parallel()
		v, db := setup(t)
		if _, err := db.ExecContext(ctx, `DROP INDEX deliveries_recent_plan`); err != nil {
			t.Fatal(err)
		}
		if s := sorts(t, db); len(s) == 0 {
			t.Fatal("without the index, Fetch across a community's webhooks does not sort: the test shows nothing")
		}
		for range 2 {
			if err := v.PrepareQueries(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if s := sorts(t, db); len(s) > 0 {
			t.Errorf("after PrepareQueries, Fetch sorts:\n%s", strings.Join(s, "\n"))
		}
	})
}

// TestPrepareQueriesBeforeSetup: on a new database, PrepareQueries runs before the read models have
// created their tables (serve prepares before it starts them); it leaves the index to Setup.
func TestPrepareQueriesBeforeSetup(t *testing.T) {
	t.Parallel()
	db, _ := readmodeltest.TempDB(t)
	v, err := New(db, readmodeltest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.PrepareQueries(context.Background()); err != nil {
		t.Fatalf("PrepareQueries on a new database: %v", err)
	}
}
