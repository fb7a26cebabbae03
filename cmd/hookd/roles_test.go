package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb/kurrentdbtest"
	"github.com/hookd/hookd/adapters/readmodeldb"
	"github.com/hookd/hookd/projections/licenseview"
)

// TestRolesBuildTheirReadModels runs an api node and a deliver node on one KurrentDB log, in the
// embedded delivery profile (the deliver node's memtransport) and in the cluster profile (NATS).
// The deliver node builds no read model that only the API reads (licenses: no table, no
// checkpoint), and delivers what the api node takes; the api node serves the API and delivers
// nothing (no delivery pipeline, no delivery metrics), while building every read model the API
// reads.
func TestRolesBuildTheirReadModels(t *testing.T) {
	t.Parallel()
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		srv, err := kurrentdbtest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		master := make([]byte, 32)
		_, _ = rand.Read(master)
		testRoles(t, map[string]string{
			"HOOKD_EVENTSTORE": "kurrentdb", "HOOKD_KURRENTDB_URL": srv.URL(), "HOOKD_ALLOW_PRIVATE_TARGETS": "true",
			"HOOKD_MASTER_KEY": base64.StdEncoding.EncodeToString(master), "HOOKD_BOOTSTRAP_LICENSE_KEY": "shared-bootstrap-license-0001",
		})
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		testRoles(t, startClusterServices(t))
	})
}

func testRoles(t *testing.T, env map[string]string) {
	with := func(roles string) map[string]string {
		e := nodeEnv(env, "node-"+strings.ReplaceAll(roles, ",", "-"))
		e["HOOKD_ROLES"] = roles
		return e
	}
	apiDir, deliverDir := t.TempDir(), t.TempDir()
	api := startHookdIn(t, apiDir, with("api"))
	deliverer := startHookdIn(t, deliverDir, with("deliver"))

	rcv := newReceiver(t, http.StatusOK)
	scope := apiScope("t1", "c1")
	hook := apiMinimal("to the receiver")
	hook["api"] = map[string]any{"url": rcv.srv.URL + "/in"}
	apiCreate(api, api.license, scope, hook)
	const events = 5
	for i := range events {
		apiPublish(api, api.license, scope, map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{"n": i}}, nil)
	}
	got := rcv.wait(events, 30*time.Second)
	ids := map[string]bool{}
	for _, r := range got {
		ids[r.header.Get("Webhook-Id")] = true
	}
	if len(ids) != events {
		t.Errorf("the receiver got %d distinct deliveries of %d events", len(ids), events)
	}

	// The deliver node: its projections and its database lack the licenses read model.
	if names := projectionNames(deliverer); slices.Contains(names, licenseview.Name) {
		t.Errorf("the deliver node builds %v, with %s, which only the API reads", names, licenseview.Name)
	}
	tables, checkpoints := readModelsIn(t, deliverDir)
	if slices.Contains(tables, "licenses") || slices.Contains(checkpoints, licenseview.Name) {
		t.Errorf("the deliver node's read models database holds tables %v and checkpoints %v; want no licenses", tables, checkpoints)
	}
	for _, want := range []string{"webhooks", "servicekeys", "deliveries"} {
		if !slices.Contains(checkpoints, want) {
			t.Errorf("the deliver node's checkpoints %v lack %s, which delivery reads", checkpoints, want)
		}
	}
	if r := deliverer.do(http.MethodGet, "/readyz", nil, nil); r.Status != http.StatusOK {
		t.Errorf("deliver node /readyz: %d %s", r.Status, r.Body)
	}

	// The api node: every read model the API reads, and no delivery.
	if names := projectionNames(api); !slices.Contains(names, licenseview.Name) {
		t.Errorf("the api node builds %v, without %s", names, licenseview.Name)
	}
	if api.inst.node.cfg.Deliver {
		t.Fatal("the api node has the deliver role")
	}
	if r := api.do(http.MethodGet, "/metrics", nil, nil); strings.Contains(string(r.Body), "hookd_delivery_attempt") {
		t.Error("the api node's /metrics counts delivery attempts: it delivers")
	}
	if r := api.do(http.MethodGet, "/readyz", nil, nil); r.Status != http.StatusOK {
		t.Errorf("api node /readyz: %d %s", r.Status, r.Body)
	}
	// The deliveries the deliver node made reach the api node's delivery log through the log.
	apiEventually(t, 30*time.Second, "the api node's delivery log showing the deliveries", func() bool {
		n := 0
		for _, w := range apiAllWebhooks(api, scope) {
			n += len(apiDeliveries(api, scope, w.ID, map[string]any{"status": "succeeded"}).Data)
		}
		return n == events
	})
}

// projectionNames lists the read models a running node builds.
func projectionNames(h *testHookd) []string {
	var names []string
	for _, p := range h.inst.node.projections {
		names = append(names, p.Name())
	}
	return names
}

// readModelsIn lists the tables and the checkpoints of the read models database in dir.
func readModelsIn(t *testing.T, dir string) (tables, checkpoints []string) {
	t.Helper()
	db, err := readmodeldb.Open(filepath.Join(dir, readModelsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	list := func(query string) []string {
		rows, err := db.QueryContext(t.Context(), query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var name sql.NullString
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			out = append(out, name.String)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(fmt.Errorf("%s: %w", query, err))
		}
		return out
	}
	return list(`SELECT name FROM sqlite_master WHERE type = 'table'`), list(`SELECT name FROM projection_checkpoints`)
}
