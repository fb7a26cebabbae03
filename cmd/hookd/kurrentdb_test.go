package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb/kurrentdbtest"
)

// TestServeOnKurrentDB runs hookd with HOOKD_EVENTSTORE=kurrentdb against the protocol test server:
// create, update and fetch; restart hookd and fetch; rebuild the read models with the CLI and
// fetch; and, with the node down, a write answers 503 instead of 500 or a hang. The log lives only
// in the test server: the data directory keeps the read models, the sealing key and the bootstrap
// license file.
func TestServeOnKurrentDB(t *testing.T) {
	t.Parallel()
	srv, err := kurrentdbtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	env := map[string]string{"HOOKD_EVENTSTORE": "kurrentdb", "HOOKD_KURRENTDB_URL": srv.URL()}
	dir := t.TempDir()
	scope := apiScope("t1", "c1")

	h := startHookdIn(t, dir, env)
	w := apiCreate(h, h.license, scope, apiMinimal("first"))
	h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"name": "renamed", "disabled": true}), http.StatusOK, nil)
	want := func(h *testHookd, when string) {
		t.Helper()
		var got apiWebhookJSON
		h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, &got)
		if got.Name != "renamed" || !got.Disabled {
			t.Fatalf("%s: got %+v, want the renamed, disabled webhook", when, got)
		}
		if all := apiAllWebhooks(h, scope); len(all) != 1 || all[0].ID != w.ID {
			t.Fatalf("%s: fetch lists %d webhooks, want just %s", when, len(all), w.ID)
		}
	}
	want(h, "after the update")
	if srv.Events() == 0 {
		t.Fatal("the test server holds no events: hookd did not write to KurrentDB")
	}
	h.stop()

	h = startHookdIn(t, dir, env)
	want(h, "after a restart")

	rebuildIn(t, dir, env)
	want(h, "after rebuilding the read models")

	srv.Stop()
	began := time.Now()
	r := h.system(http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"name": "while down"})
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("update with KurrentDB down: %d %s, want 503", r.Status, r.Body)
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("update with KurrentDB down took %v", took)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	apiEventually(t, 30*time.Second, "a write once KurrentDB is back", func() bool {
		r := h.system(http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"name": "back"})
		return r.Status == http.StatusOK
	})
}

// TestTwoNodesShareKurrentDB runs two hookd nodes, each with its own data directory and read models,
// on one KurrentDB: what one writes, the other serves, through its own subscription. The nodes
// share the master key and the bootstrap license, as a deployment of several nodes would.
func TestTwoNodesShareKurrentDB(t *testing.T) {
	t.Parallel()
	srv, err := kurrentdbtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	env := map[string]string{
		"HOOKD_EVENTSTORE": "kurrentdb", "HOOKD_KURRENTDB_URL": srv.URL(),
		"HOOKD_MASTER_KEY": base64.StdEncoding.EncodeToString(master), "HOOKD_BOOTSTRAP_LICENSE_KEY": "shared-bootstrap-license-0001",
	}
	a := startHookdIn(t, t.TempDir(), env)
	b := startHookdIn(t, t.TempDir(), env)
	scope := apiScope("t1", "c1")

	w := apiCreate(a, a.license, scope, apiMinimal("made on a"))
	apiEventually(t, 30*time.Second, "node b serving node a's webhook", func() bool {
		return b.system(http.MethodGet, scope+"/webhook/"+w.ID, nil).Status == http.StatusOK
	})
	b.mustJSON(b.system(http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"name": "renamed on b"}), http.StatusOK, nil)
	apiEventually(t, 30*time.Second, "node a serving node b's update", func() bool {
		var got apiWebhookJSON
		r := a.system(http.MethodGet, scope+"/webhook/"+w.ID, nil)
		return r.Status == http.StatusOK && json.Unmarshal(r.Body, &got) == nil && got.Name == "renamed on b"
	})
}

func TestConfigEventStore(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{}, ""},
		{map[string]string{"HOOKD_EVENTSTORE": "embedded"}, ""},
		{map[string]string{"HOOKD_EVENTSTORE": "kurrentdb", "HOOKD_KURRENTDB_URL": "esdb://127.0.0.1:2113?tls=false"}, ""},
		{map[string]string{"HOOKD_EVENTSTORE": "kurrentdb"}, "HOOKD_KURRENTDB_URL"},
		{map[string]string{"HOOKD_EVENTSTORE": "postgres"}, "HOOKD_EVENTSTORE"},
	}
	for _, c := range cases {
		_, err := configFromEnv(func(k string) string { return c.env[k] })
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%v: %v", c.env, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%v: error %v, want one naming %s", c.env, err, c.wantErr)
		}
	}
}
