package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/projections/webhookview"
)

func rebuildConfig(db *sql.DB, log *memLog, p projections.Projection, batch int) projections.RebuildConfig {
	return projections.RebuildConfig{DB: db, ReadAll: log.ReadAll, LastPosition: log.LastPosition, Projection: p, BatchSize: batch}
}

func newView(t testing.TB, db *sql.DB) *webhookview.View {
	t.Helper()
	v, err := webhookview.New(db, readmodeltest.Codec(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// viewSnapshot is everything the webhook view answers: every page of every scope under a set of tag
// filters, the subscribers of every scope and event name, and Get of every webhook id ever created in
// every scope.
type viewSnapshot struct {
	Pages       []webhookview.Page
	Subscribers []string
	Gets        []string
}

func snapshot(t testing.TB, v *webhookview.View, w *workload) viewSnapshot {
	t.Helper()
	ctx := context.Background()
	var s viewSnapshot
	scopes := append(slices.Clone(w.scopes), [2]string{"t3", "c1"})
	filters := [][]string{nil, {"red"}, {"green"}, {"blue"}, {"prod"}, {"red", "blue"}, {"prod", "green", "red"}, {"none"}}
	for _, scope := range scopes {
		for _, tags := range filters {
			for index := 0; ; index++ {
				page, err := v.Fetch(ctx, webhookview.FetchQuery{TenantID: scope[0], CommunityID: scope[1], Tags: tags,
					PageIndex: index, PageSize: 10})
				if err != nil {
					t.Fatal(err)
				}
				s.Pages = append(s.Pages, page)
				if len(page.Items) == 0 {
					break
				}
			}
		}
		for _, event := range append(slices.Clone(w.eventNames), "none") {
			items, err := v.Subscribers(ctx, scope[0], scope[1], event)
			if err != nil {
				t.Fatal(err)
			}
			s.Subscribers = append(s.Subscribers, fmt.Sprintf("%s/%s %s: %+v", scope[0], scope[1], event, items))
		}
	}
	// Every webhook in its own scope, and in the next one, where it must not be found.
	for _, c := range w.allCreated() {
		for _, scope := range [][2]string{w.scopes[c.scope], w.scopes[(c.scope+1)%len(w.scopes)]} {
			h, err := v.Get(ctx, scope[0], scope[1], c.id)
			switch {
			case errors.Is(err, webhook.ErrNotFound):
				s.Gets = append(s.Gets, "not found")
			case err != nil:
				t.Fatal(err)
			default:
				s.Gets = append(s.Gets, fmt.Sprintf("%+v", h))
			}
		}
	}
	return s
}

func assertSameView(t testing.TB, name string, got, want viewSnapshot) {
	t.Helper()
	if len(got.Pages) != len(want.Pages) {
		t.Fatalf("%s: %d pages, want %d", name, len(got.Pages), len(want.Pages))
	}
	for i := range want.Pages {
		if !reflect.DeepEqual(got.Pages[i], want.Pages[i]) {
			t.Fatalf("%s: page %d differs:\n got %+v\nwant %+v", name, i, got.Pages[i], want.Pages[i])
		}
	}
	if len(got.Subscribers) != len(want.Subscribers) {
		t.Fatalf("%s: %d subscriber answers, want %d", name, len(got.Subscribers), len(want.Subscribers))
	}
	for i := range want.Subscribers {
		if got.Subscribers[i] != want.Subscribers[i] {
			t.Fatalf("%s: subscribers differ:\n got %s\nwant %s", name, got.Subscribers[i], want.Subscribers[i])
		}
	}
	if !slices.Equal(got.Gets, want.Gets) {
		t.Fatalf("%s: Get answers differ", name)
	}
}

func TestRebuildGivesTheSameWebhookViewAsTheLiveRunner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := newMemLog()
	log.maxRead = 128 // a store that returns less than asked must not end the rebuild early
	w := newWorkload(t, 1)
	w.appendN(log, 1500)

	// As in hookd serve, one View is the Runner's projection and answers the queries: its prepared
	// statements and caches must survive the swap.
	liveDB, livePath := readmodeltest.TempDB(t)
	liveView := newView(t, liveDB)
	live := startRunner(t, projections.RunnerConfig{DB: liveDB, Subscribe: log.Subscribe, Projection: liveView})
	live.waitFor(t, log.head())
	before := snapshot(t, liveView, w)
	if before.Pages[0].Total == 0 {
		t.Fatal("the workload left no webhook in t1/c1")
	}
	if w.rotations == 0 || !slices.ContainsFunc(before.Subscribers, func(s string) bool { return strings.Contains(s, "PreviousSecret:sealed:") }) {
		t.Fatal("no subscriber of the workload had its secret rotated: the snapshot would not compare rotations")
	}

	// Into a database of its own: the same answers.
	freshDB, _ := readmodeltest.TempDB(t)
	pos, err := projections.Rebuild(ctx, rebuildConfig(freshDB, log, newView(t, freshDB), 256))
	if err != nil {
		t.Fatal(err)
	}
	if pos != log.head() {
		t.Fatalf("rebuilt up to %s, want %s", pos, log.head())
	}
	assertSameView(t, "rebuilt from scratch", snapshot(t, newView(t, freshDB), w), before)

	// In place, through another pool (another process), with the live runner going on and commands
	// appending while the rebuild runs.
	otherDB := readmodeltest.OpenDB(t, livePath)
	cfg := rebuildConfig(otherDB, log, newView(t, otherDB), 200)
	cfg.Progress = func(projections.Progress) { w.appendN(log, 20) } // on every batch: the log never rests
	rebuilt, err := projections.Rebuild(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.appendN(log, 50)
	live.waitFor(t, log.head())
	if !slices.Contains(log.subscribedAfter(), rebuilt) {
		t.Fatalf("the live runner did not follow on from the rebuilt checkpoint %s (subscribed after %v)",
			rebuilt, log.subscribedAfter())
	}

	referenceDB, _ := readmodeltest.TempDB(t)
	reference := startRunner(t, projections.RunnerConfig{DB: referenceDB, Subscribe: log.Subscribe, Projection: newView(t, referenceDB)})
	reference.waitFor(t, log.head())
	want := snapshot(t, newView(t, referenceDB), w)
	assertSameView(t, "rebuilt in place, read by the live process", snapshot(t, liveView, w), want)
	assertSameView(t, "rebuilt in place, read by the rebuilding process", snapshot(t, newView(t, otherDB), w), want)
}

func TestRebuildWhileAnotherProcessRunsIsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := newMemLog()
	log.append(things(2000)...)
	liveDB, path := readmodeltest.TempDB(t)
	live := startRunner(t, projections.RunnerConfig{DB: liveDB, Subscribe: log.Subscribe, Projection: &tally{t: t}, BatchSize: 50})

	otherDB := readmodeltest.OpenDB(t, path)
	for round := range 3 { // more than once: the second rebuild's indexes must not clash with the first's
		// Commands append while the rebuild runs: a bounded number of them, so that a slow machine
		// cannot make the log outrun the rebuild.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for range 500 {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Microsecond):
					log.append(things(3)...)
				}
			}
		})
		rebuilt, err := projections.Rebuild(ctx, rebuildConfig(otherDB, log, &tally{t: t}, 100))
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("rebuild %d: %v", round, err)
		}
		log.append(things(5)...) // so that the live runner has a batch after the swap
		live.waitFor(t, log.head())
		if !slices.Contains(log.subscribedAfter(), rebuilt) {
			t.Fatalf("rebuild %d: the live runner did not follow on from the rebuilt checkpoint %s", round, rebuilt)
		}
	}
	head := log.head()
	live.waitFor(t, head)
	assertTallied(t, liveDB, head.Commit)
	if got := storedCheckpoint(t, liveDB, "tally"); got != head {
		t.Fatalf("checkpoint %s, want %s", got, head)
	}
	assertNoLeftovers(t, liveDB)
}

func assertNoLeftovers(t testing.TB, db *sql.DB) {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE '%_next%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d tables or indexes of a rebuild are left", n)
	}
	if err := db.QueryRow(`SELECT count(*) FROM projection_checkpoints WHERE name LIKE '%@rebuild'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d rebuild checkpoints are left", n)
	}
}

func TestRebuildAfterAnAbortedRebuild(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(1000)...)
	db, _ := readmodeltest.TempDB(t)

	ctx, cancel := context.WithCancel(context.Background())
	cfg := rebuildConfig(db, log, &tally{t: t}, 300)
	cfg.Progress = func(projections.Progress) { cancel() }
	if _, err := projections.Rebuild(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("aborted rebuild returned %v, want context.Canceled", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM tally_next`).Scan(&n); err != nil || n != 300 {
		t.Fatalf("the aborted rebuild left %d rows (%v), want 300", n, err)
	}

	for range 2 {
		pos, err := projections.Rebuild(context.Background(), rebuildConfig(db, log, &tally{t: t}, 300))
		if err != nil {
			t.Fatal(err)
		}
		if pos != log.head() {
			t.Fatalf("rebuilt up to %s, want %s", pos, log.head())
		}
		assertTallied(t, db, 1000)
		if got := storedCheckpoint(t, db, "tally"); got != log.head() {
			t.Fatalf("checkpoint %s, want %s", got, log.head())
		}
		assertNoLeftovers(t, db)
	}
}

func TestRebuildReportsProgress(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(1000)...)
	db, _ := readmodeltest.TempDB(t)
	cfg := rebuildConfig(db, log, &tally{t: t}, 300)
	var got []projections.Progress
	cfg.Progress = func(p projections.Progress) { got = append(got, p) }
	if _, err := projections.Rebuild(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	var events []uint64
	for _, p := range got {
		events = append(events, p.Events)
		if p.Total != 1000 || p.Done != p.Events || p.Elapsed <= 0 {
			t.Fatalf("progress %+v: want Total 1000, Done = Events, Elapsed > 0", p)
		}
	}
	if want := []uint64{300, 600, 900, 1000, 1000}; !slices.Equal(events, want) {
		t.Fatalf("progress reported %v events, want %v", events, want)
	}
}

func TestASecondRebuildSupersedesTheFirst(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(1000)...)
	db, path := readmodeltest.TempDB(t)
	other := readmodeltest.OpenDB(t, path)

	cfg := rebuildConfig(db, log, &tally{t: t}, 300)
	var once sync.Once
	cfg.Progress = func(projections.Progress) {
		once.Do(func() {
			if _, err := projections.Rebuild(context.Background(), rebuildConfig(other, log, &tally{t: t}, 300)); err != nil {
				t.Errorf("second rebuild: %v", err)
			}
		})
	}
	if _, err := projections.Rebuild(context.Background(), cfg); !errors.Is(err, projections.ErrRebuildSuperseded) {
		t.Fatalf("first rebuild returned %v, want ErrRebuildSuperseded", err)
	}
	assertTallied(t, db, 1000)
	assertNoLeftovers(t, db)
}

func TestRebuildRefusesMissingParts(t *testing.T) {
	t.Parallel()
	if _, err := projections.Rebuild(context.Background(), projections.RebuildConfig{}); err == nil {
		t.Fatal("Rebuild accepted an empty config")
	}
}

// The live tables keep answering during a rebuild, until the swap.
func TestLiveTablesServeUntilTheSwap(t *testing.T) {
	t.Parallel()
	log := newMemLog()
	log.append(things(900)...)
	db, path := readmodeltest.TempDB(t)
	live := startRunner(t, projections.RunnerConfig{DB: db, Subscribe: log.Subscribe, Projection: &tally{t: t}})
	live.waitFor(t, log.head())

	cfg := rebuildConfig(readmodeltest.OpenDB(t, path), log, &tally{t: t}, 300)
	cfg.Progress = func(p projections.Progress) {
		if p.Events < 900 {
			if n := len(tallied(t, db)); n != 900 {
				t.Errorf("during the rebuild the live table holds %d events, want 900", n)
			}
		}
	}
	if _, err := projections.Rebuild(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	assertTallied(t, db, 900)
}
