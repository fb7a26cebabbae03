package main

import (
	"context"
	"database/sql"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

// TestRetentionRemovesExpiredDeliveries: with a retention of an hour, the deliveries finished more
// than an hour ago leave the log and the delivery log; those still in flight, finished since, or
// replayed since stay, and so do the webhooks. A replay of an expired delivery is refused as
// expired, by the API (410 in the error shape) and by hookd replay, and a rebuild of the deliveries
// read model after retention gives the same delivery log as the live one, and a rebuild of the
// webhooks read model the same endpoint health.
func TestRetentionRemovesExpiredDeliveries(t *testing.T) {
	t.Parallel()
	env := maps.Clone(handDrivenDeliveries)
	env["HOOKD_DELIVERY_RETENTION"] = "1h"
	h := startHookd(t, env)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("w"))
	now := time.Now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	oldSucceeded := l.deliver(w, "E_A", ago(3*time.Hour), 200)
	oldFailed := l.deliver(w, "E_A", ago(2*time.Hour), 500)
	oldInFlight := l.deliver(w, "E_A", ago(3*time.Hour))
	recent := l.deliver(w, "E_A", ago(10*time.Minute), 200)
	// Finished long ago, replayed and finished again a minute ago: changed within the hour.
	replayed := l.deliver(w, "E_A", ago(3*time.Hour), 500)
	d := l.load(replayed)
	if err := d.RequestReplay(delivery.ReplayCurrent, "test", ago(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	l.append(d)
	l.attempt(replayed, 200, ago(2*time.Minute))
	expired := []string{oldSucceeded, oldFailed}
	kept := []string{oldInFlight, recent, replayed}
	l.sync()

	apiEventually(t, 60*time.Second, "the expired deliveries leave the delivery log", func() bool {
		ids := apiDeliveryIDs(h, scope, w.ID, nil)
		return !slices.Contains(ids, oldSucceeded) && !slices.Contains(ids, oldFailed)
	})
	if ids := apiDeliveryIDs(h, scope, w.ID, nil); !sameSet(ids, kept) {
		t.Errorf("delivery log %v, want the deliveries kept %v", ids, kept)
	}
	ctx := context.Background()
	for _, id := range expired {
		if evs, err := l.n.store.ReadStream(ctx, delivery.Stream(id), 0, 0); err != nil || len(evs) != 0 {
			t.Errorf("expired delivery %s: its stream reads %d events (%v), want none", id, len(evs), err)
		}
	}
	for _, id := range kept {
		if evs, err := l.n.store.ReadStream(ctx, delivery.Stream(id), 0, 0); err != nil || len(evs) == 0 {
			t.Errorf("kept delivery %s: its stream reads %d events (%v)", id, len(evs), err)
		}
	}
	if evs, err := l.n.store.ReadStream(ctx, webhook.Stream(w.ID), 0, 0); err != nil || len(evs) == 0 {
		t.Errorf("the webhook's stream reads %d events (%v), want it kept", len(evs), err)
	}

	// A replay of an expired delivery says so, and appends nothing.
	head := l.head()
	apiWantError(t, h.system(http.MethodPost, webhookPath(scope, w.ID)+"/replay", map[string]any{"deliveryIds": []string{oldFailed, recent}}),
		http.StatusGone, "delivery "+oldFailed+" has expired", "1h0m0s", "HOOKD_DELIVERY_RETENTION")
	out, err := h.runCLI("replay", "--tenant", "t1", "--community", "c1", "--delivery", oldSucceeded)
	if err == nil || !strings.Contains(err.Error(), "delivery "+oldSucceeded+" has expired") {
		t.Errorf("hookd replay of an expired delivery: %v\n%s", err, out)
	}
	if after := l.head(); after != head {
		t.Errorf("refused replays moved the log from %v to %v", head, after)
	}
	// Another tenant learns nothing of the id.
	other := apiCreate(h, h.license, apiScope("t2", "c1"), apiMinimal("other"))
	if got := apiReplay(h, apiScope("t2", "c1"), other.ID, map[string]any{"deliveryIds": []string{oldFailed}}); !slices.Equal(got.NotFound, []string{oldFailed}) {
		t.Errorf("another tenant's replay of the id: %+v, want it not found", got)
	}

	// Rebuilt from the log as retention left it, the delivery log is the live one.
	live := apiDeliveries(h, scope, w.ID, map[string]any{"pSize": 100})
	if out, err := h.runCLI("projections", "rebuild", "--projection", "deliveries"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	rebuilt := apiDeliveries(h, scope, w.ID, map[string]any{"pSize": 100})
	if !reflect.DeepEqual(rebuilt, live) {
		t.Errorf("the rebuilt delivery log differs from the live one:\nlive    %+v\nrebuilt %+v", live, rebuilt)
	}
	if len(rebuilt.Data) != len(kept) {
		t.Errorf("rebuilt delivery log has %d deliveries, want %d", len(rebuilt.Data), len(kept))
	}

	// So is the endpoint's health, though the attempts of the expired deliveries left the log: a
	// pair carried it there before they went.
	_, liveHealth := apiHealth(h, scope, w.ID)
	if liveHealth.RecentAttempts != 5 || liveHealth.RecentFailures != 2 {
		t.Errorf("live health %+v, want the 5 attempts made, 2 of them failed", liveHealth)
	}
	if out, err := h.runCLI("projections", "rebuild", "--projection", "webhooks"); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if _, rebuiltHealth := apiHealth(h, scope, w.ID); !reflect.DeepEqual(rebuiltHealth, liveHealth) {
		t.Errorf("the rebuilt health differs from the live one:\nlive    %+v\nrebuilt %+v", liveHealth, rebuiltHealth)
	}
	var pairs []string
	records, err := l.n.store.ReadAll(ctx, eventlog.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if strings.HasPrefix(r.Stream, webhook.HealthStreamPrefix) && !slices.Contains(pairs, r.Stream) {
			pairs = append(pairs, r.Stream)
		}
	}
	if len(pairs) != 1 {
		t.Errorf("the log holds the health pairs %v, want the last one alone", pairs)
	}
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	return reflect.DeepEqual(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// TestRetentionKeepsTheDataDirectoryAtAPlateau publishes steadily with a retention of 3 s and
// samples, after 400, 700 and 1,600 deliveries, the size of the log and the read models as SQLite
// lays them out (pages in use and free pages kept for reuse: what the files hold once checkpointed)
// and the data directory's files. The databases stop growing between the last two samples, within
// a tolerance; without retention they grow by about 1 MB per 300 deliveries, and with the log's
// streams left in place (only the read model's rows removed) by about 1 MB per 900, which the last
// gap of 900 deliveries puts past the tolerance (over 300 it stayed within). Samples are taken by
// deliveries, not by time, so a slow machine takes longer but judges the same. The WAL files beside
// them grow to their steady size, bounded by the checkpoint threshold, over the first thousands of
// deliveries (docs/benchmarks.md has a longer run).
func TestRetentionKeepsTheDataDirectoryAtAPlateau(t *testing.T) {
	t.Parallel()
	var delivered atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		delivered.Add(1)
	}))
	t.Cleanup(target.Close)
	env := maps.Clone(deliveryEnv)
	env["HOOKD_DELIVERY_RETENTION"] = "3s"
	dataDir := t.TempDir()
	h := startHookdIn(t, dataDir, env)
	scope := apiScope("t1", "c1")
	hook := apiMinimal("load")
	hook["api"] = map[string]any{"url": target.URL + "/hook"}
	apiCreate(h, h.license, scope, hook)

	// 20 events of 1 KiB a request, up to 10 requests a second, none while more than 100 wait to
	// be delivered and none while the deliveries read model holds more than 400 (2 s at the most
	// this loop publishes): the deliveries of a few seconds are always kept, and the load is one
	// the sweep keeps up with however slow the machine (under -race on a busy machine it did not
	// at 200 a second, and published events waiting for delivery cannot expire). What is asserted
	// is that the space of what was removed is used again; how fast the sweep removes is
	// BenchmarkDeleteExpiredDeliveries' measure (docs/benchmarks.md, Retention).
	batch := make([]map[string]any, 20)
	for i := range batch {
		batch[i] = map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{"seq": i, "blob": strings.Repeat("x", 1024)}}
	}
	marks := []int64{400, 700, 1600}
	var sizes []int64
	var published int64
	lastPublished := time.Now()
	deadline := time.Now().Add(10 * time.Minute) // catches a hang only
	for len(sizes) < len(marks) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d deliveries arrived in 10 minutes", delivered.Load())
		}
		live := liveDeliveries(t, filepath.Join(dataDir, readModelsFile))
		if published-delivered.Load() <= 100 && live <= 400 {
			apiPublish(h, h.license, scope, batch, nil)
			published += int64(len(batch))
			lastPublished = time.Now()
		} else if time.Since(lastPublished) > 2*time.Minute {
			t.Fatalf("no room to publish for 2 minutes: the read model holds %d deliveries; retention removes none", live)
		}
		time.Sleep(100 * time.Millisecond)
		if delivered.Load() >= marks[len(sizes)] {
			size := dbSize(t, filepath.Join(dataDir, logFile)) + dbSize(t, filepath.Join(dataDir, readModelsFile))
			sizes = append(sizes, size)
			t.Logf("after %d deliveries: databases %.2f MB, data directory %.1f MB", delivered.Load(),
				float64(size)/1e6, float64(dirSize(t, dataDir))/1e6)
		}
	}
	// 5 % and 256 KiB for the deliveries of a sweep's interval and the peaks of the load (they grew
	// by 0.04 to 0.05 MB; with published events never removed, by 0.53 MB).
	if first, last := sizes[1], sizes[2]; last > first+first/20+256<<10 {
		t.Errorf("the databases grew from %.2f MB to %.2f MB between %d and %d deliveries, past what a plateau allows",
			float64(first)/1e6, float64(last)/1e6, marks[1], marks[2])
	}
}

// liveDeliveries is how many deliveries the deliveries read model at path holds.
func liveDeliveries(t *testing.T, path string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow("SELECT count(*) FROM delivery_rows_at").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// dbSize is the size of the SQLite database at path as its pages say (page_count × page_size,
// free pages included), WAL frames not yet checkpointed counted where they belong.
func dbSize(t *testing.T, path string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pages, size int64
	if err := db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA page_size").Scan(&size); err != nil {
		t.Fatal(err)
	}
	return pages * size
}

// dirSize is the bytes the files directly in dir take.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if info.Mode().IsRegular() {
			total += info.Size()
		}
	}
	return total
}

func TestDeliveryRetentionConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 30 * 24 * time.Hour, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"12h", 12 * time.Hour, true},
		{"20s", 20 * time.Second, true},
		{"0", 0, true},
		{"-1h", 0, false},
		{"forever", 0, false},
		{"1w", 0, false},
	} {
		cfg, err := configFromEnv(func(k string) string {
			if k == "HOOKD_DELIVERY_RETENTION" {
				return c.value
			}
			return ""
		})
		switch {
		case c.ok && (err != nil || cfg.DeliveryRetention != c.want):
			t.Errorf("HOOKD_DELIVERY_RETENTION=%q: %v, %v; want %v", c.value, cfg.DeliveryRetention, err, c.want)
		case !c.ok && (err == nil || !strings.Contains(err.Error(), "HOOKD_DELIVERY_RETENTION")):
			t.Errorf("HOOKD_DELIVERY_RETENTION=%q: %v, want an error naming the variable", c.value, err)
		}
	}
}

// TestReplayOfADeliveryWhoseEventExpired: a delivery whose body is built from its published event
// (body format 1) cannot be sent again once the log no longer holds the event. A replay of it by id
// is refused as expired, by the API (410 in the error shape) and by hookd replay, and appends nothing.
func TestReplayOfADeliveryWhoseEventExpired(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("w"))
	d, err := delivery.Schedule(delivery.Scheduling{
		EventID: uuid.NewString(), WebhookID: w.ID, TenantID: w.TenantID, CommunityID: w.CommunityID, EventName: "E_A",
		BodyFormat: delivery.BodyBuiltV1,
		Settings:   delivery.Snapshot{API: webhook.Endpoint{Type: "POST", URL: w.API.URL, AuthType: webhook.AuthNone}, Policy: testPolicy},
		At:         time.Now().Add(-time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	l.append(d)
	l.attempt(d.ID(), 500, time.Now().Add(-time.Minute))
	l.sync()

	head := l.head()
	apiWantError(t, h.system(http.MethodPost, webhookPath(scope, w.ID)+"/replay", map[string]any{"deliveryIds": []string{d.ID()}}),
		http.StatusGone, "delivery "+d.ID()+" cannot be replayed", "published event", "expired")
	out, err := h.runCLI("replay", "--tenant", "t1", "--community", "c1", "--delivery", d.ID())
	if err == nil || !strings.Contains(err.Error(), "delivery "+d.ID()+" cannot be replayed") {
		t.Errorf("hookd replay of a delivery whose event expired: %v\n%s", err, out)
	}
	if after := l.head(); after != head {
		t.Errorf("refused replays moved the log from %v to %v", head, after)
	}
}
