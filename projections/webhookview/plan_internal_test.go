package webhookview

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
)

// Subscribers must cost what the webhooks it returns cost, whatever else the community holds: SQLite
// must answer it with a search of webhook_subscribers' key on the tenant, the community and the event
// name, and a lookup of each webhook by seq, and never scan either table.
func TestSubscribersQueryNeverScans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := readmodeltest.TempDB(t)
	v, err := New(db, readmodeltest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	readmodeltest.InTx(t, db, func(tx *sql.Tx) error { return v.Setup(ctx, tx, projections.Schema{Build: "plan"}) })
	joined := readmodeltest.Plan(t, db, subscribersQuery, "t1", "c1", "E1")
	for _, want := range []string{
		"SEARCH s USING PRIMARY KEY (tenant=? AND community=? AND event=?)",
		"SEARCH w USING INTEGER PRIMARY KEY (rowid=?)",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("the plan of Subscribers lacks %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "SCAN") || strings.Contains(joined, "TEMP B-TREE") {
		t.Errorf("the plan of Subscribers scans or sorts:\n%s", joined)
	}
}
