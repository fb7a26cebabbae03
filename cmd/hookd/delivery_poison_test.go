package main

// Component tests of defence in depth: what reaches delivery in spite of publish's rules (events
// recorded before them, or by another writer; secrets that no longer open) parks the deliveries it
// concerns, with a reason in their log, and stalls no one else's.

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/readmodeldb"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/publication"
	"github.com/hookd/hookd/domain/webhook"
)

// appendPublished appends an EventPublished with a raw payload straight into the log, through a
// second node on the server's data directory, past publish's rules, and returns its id.
func appendPublished(t *testing.T, h *testHookd, tenant, community, name string, payload []byte) string {
	t.Helper()
	n, err := openNode(context.Background(), h.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	p := publication.Published{EventID: uuid.NewString(), TenantID: tenant, CommunityID: community, Name: name,
		Payload: payload, Publisher: "elsewhere"}
	stream := publication.Stream(p.EventID)
	data, err := n.codec.Encode(stream, eventlog.EventID(uuid.New()), p, eventlog.Metadata{OccurredAt: time.Now().UTC(), Actor: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.store.Append(context.Background(), stream, eventlog.NoStream(), []eventlog.EventData{data}); err != nil {
		t.Fatal(err)
	}
	return p.EventID
}

// parkedReason waits until the delivery's log ends with DeliveryFailed and returns its reason. It
// reads the records as they are, so it needs no secret of the delivery to open.
func parkedReason(t *testing.T, h *testHookd, id string) string {
	t.Helper()
	n, err := openNode(context.Background(), h.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		records, err := n.store.ReadStream(context.Background(), delivery.Stream(id), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(records) > 0 && records[len(records)-1].Type == delivery.EventFailed {
			var failed delivery.Failed
			if err := json.Unmarshal(records[len(records)-1].Data, &failed); err != nil {
				t.Fatal(err)
			}
			return failed.Reason
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s: not parked after 20 s (%d records)", id, len(records))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPoisonInTheLogStallsNoOtherTenant is the probe: a webhook on P, an event of P with a
// payload 600 deep and one with invalid UTF-8 in the log, then five good events of other tenants.
// The five are delivered, the two are parked with reason body_unbuildable (again after a replay),
// and /readyz stays 200: nothing stopped. An old event with a number beyond a double (publish refuses it now) is still
// delivered, with the number written as null, as JSON.stringify writes Infinity.
func TestPoisonInTheLogStallsNoOtherTenant(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, deliveryEnv)
	hooks := map[string]string{}
	for _, tenant := range []string{"t1", "t2", "t3"} {
		hooks[tenant] = apiCreate(h, h.license, apiScope(tenant, "c1"), map[string]any{
			"eventNames": []string{"P"}, "name": "on P", "api": map[string]any{"url": rcv.srv.URL}, "successCodes": []int{200},
		}).ID
	}
	deep := appendPublished(t, h, "t1", "c1", "P", []byte(`{"a":`+strings.Repeat("[", 600)+strings.Repeat("]", 600)+`}`))
	notUTF8 := appendPublished(t, h, "t1", "c1", "P", []byte(`{"a":"`+"\xff"+`"}`))
	appendPublished(t, h, "t3", "c1", "P", []byte(`{"old":true,"n":1e400}`))
	for i := range 5 {
		tenant := []string{"t2", "t3"}[i%2]
		apiPublish(h, h.license, apiScope(tenant, "c1"), map[string]any{"eventName": "P", "payload": map[string]any{"i": i}}, nil)
	}

	got := rcv.wait(6, 20*time.Second)
	bodies := map[string]bool{}
	for _, r := range got {
		bodies[string(r.body)] = true
	}
	for _, want := range []string{`{"version":1,"event":"P","payload":{"old":true,"n":null}}`,
		`{"version":1,"event":"P","payload":{"i":0}}`, `{"version":1,"event":"P","payload":{"i":4}}`} {
		if !bodies[want] {
			t.Errorf("no delivery of %s among %v", want, bodies)
		}
	}
	for _, id := range []string{deep, notUTF8} {
		if reason := parkedReason(t, h, deliveryIDOf(t, h, id, hooks["t1"])); reason != delivery.ReasonBodyUnbuildable {
			t.Errorf("event %s: parked with reason %q, want %q", id, reason, delivery.ReasonBodyUnbuildable)
		}
	}
	// Replayed, a parked delivery without a body is parked again, and nothing is sent.
	replayed := deliveryIDOf(t, h, deep, hooks["t1"])
	if out := apiReplay(h, apiScope("t1", "c1"), hooks["t1"], map[string]any{"deliveryIds": []string{replayed}, "mode": "original"}); out.Replayed != 1 {
		t.Fatalf("replay: %+v, want 1 replayed", out)
	}
	if reason := parkedReason(t, h, replayed); reason != delivery.ReasonBodyUnbuildable {
		t.Errorf("replayed: parked with reason %q, want %q", reason, delivery.ReasonBodyUnbuildable)
	}
	h.mustJSON(h.do(http.MethodGet, "/readyz", nil, nil), http.StatusOK, nil)
	time.Sleep(200 * time.Millisecond) // a poison event sent after all would have arrived by now
	if n := rcv.count(); n != 6 {
		t.Errorf("the receiver got %d requests, want the 6 good ones only", n)
	}
}

// TestDeliveryWithASecretThatCannotBeOpenedIsParked: a webhook whose sealed secret no longer opens
// (damaged in the read model) has its deliveries parked with reason secret_unopenable, not retried
// for ever; so has one whose credential no longer opens, which the dispatcher meets first. Another
// tenant's webhook keeps receiving.
func TestDeliveryWithASecretThatCannotBeOpenedIsParked(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	dir := t.TempDir()
	h := startHookdIn(t, dir, deliveryEnv)
	body := map[string]any{"eventNames": []string{"E"}, "name": "signed", "api": map[string]any{"url": rcv.srv.URL},
		"successCodes": []int{200}, "secret": "s3cret-value"}
	broken := apiCreate(h, h.license, apiScope("t1", "c1"), body)
	healthy := apiCreate(h, h.license, apiScope("t2", "c1"), body)
	body["api"] = map[string]any{"url": rcv.srv.URL, "authType": "basic",
		"credential": map[string]any{"username": "hookd", "password": "pa55word"}}
	locked := apiCreate(h, h.license, apiScope("t3", "c1"), body)
	h.cancel()
	if err := h.inst.wait(); err != nil {
		t.Fatal(err)
	}
	db, err := readmodeldb.Open(filepath.Join(dir, readModelsFile))
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE webhooks SET data = json_set(data, '$.secret', 'not sealed') WHERE id = ?`, broken.ID)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("damaging the secret: %v, %d rows", err, n)
	}
	res, err = db.Exec(`UPDATE webhooks SET data = json_set(data, '$.settings.api.credential.password', 'not sealed') WHERE id = ?`, locked.ID)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("damaging the credential: %v, %d rows", err, n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	again := startHookdIn(t, dir, deliveryEnv)
	var first, second, third struct{ ID string }
	apiPublish(again, again.license, apiScope("t3", "c1"), map[string]any{"eventName": "E", "payload": map[string]any{}}, &third)
	apiPublish(again, again.license, apiScope("t1", "c1"), map[string]any{"eventName": "E", "payload": map[string]any{}}, &first)
	apiPublish(again, again.license, apiScope("t2", "c1"), map[string]any{"eventName": "E", "payload": map[string]any{}}, &second)
	if got := rcv.wait(1, 20*time.Second); got[0].header.Get("Webhook-Id") != deliveryIDOf(t, again, second.ID, healthy.ID) {
		t.Errorf("delivered %s, want the second tenant's delivery", got[0].header.Get("Webhook-Id"))
	}
	for _, id := range []string{deliveryIDOf(t, again, first.ID, broken.ID), deliveryIDOf(t, again, third.ID, locked.ID)} {
		if reason := parkedReason(t, again, id); reason != delivery.ReasonSecretUnopenable {
			t.Errorf("delivery %s parked with reason %q, want %q", id, reason, delivery.ReasonSecretUnopenable)
		}
	}
	if n := rcv.count(); n != 1 {
		t.Errorf("the receiver got %d requests, want the healthy webhook's one", n)
	}
}

// TestReadyzNamesAStuckDispatcher: when the dispatcher cannot go on (here the webhooks read model
// it matches events against is broken under it), /readyz answers 503 naming it, rather than 200
// while no delivery is made.
func TestReadyzNamesAStuckDispatcher(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHookdIn(t, dir, deliveryEnv)
	h.mustJSON(h.do(http.MethodGet, "/readyz", nil, nil), http.StatusOK, nil)
	db, err := readmodeldb.Open(filepath.Join(dir, readModelsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TABLE webhook_subscribers`); err != nil {
		t.Fatal(err)
	}
	apiPublish(h, h.license, apiScope("t1", "c1"), map[string]any{"eventName": "E_NEW", "payload": map[string]any{}}, nil)

	deadline := time.Now().Add(20 * time.Second)
	for {
		r := h.do(http.MethodGet, "/readyz", nil, nil)
		if r.Status == http.StatusServiceUnavailable {
			apiWantError(t, r, http.StatusServiceUnavailable, "not ready: processor dispatch cannot go on")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answers %d %s 20 s after the dispatcher's read model broke, want 503", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeliveryWhoseOwnCredentialCannotBeOpenedIsParked: a delivery in the log whose snapshot holds
// a credential that does not open (damaged, or written by another writer) is parked with reason
// secret_unopenable, not read again every second for ever, and nothing is sent.
func TestDeliveryWhoseOwnCredentialCannotBeOpenedIsParked(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, deliveryEnv)
	hook := apiCreate(h, h.license, apiScope("t1", "c1"), map[string]any{"eventNames": []string{"E"}, "name": "basic",
		"api":          map[string]any{"url": rcv.srv.URL, "authType": "basic", "credential": map[string]any{"username": "u", "password": "p"}},
		"successCodes": []int{200}})

	n, err := openNode(context.Background(), h.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	d, err := delivery.Schedule(delivery.Scheduling{EventID: uuid.NewString(), WebhookID: hook.ID, TenantID: "t1", CommunityID: "c1",
		EventName: "E", Body: `{"version":1,"event":"E","payload":{}}`, At: time.Now(),
		Settings: delivery.Snapshot{Policy: delivery.Policy{SuccessCodes: []int{200}}, API: webhook.Endpoint{URL: rcv.srv.URL,
			AuthType: webhook.AuthBasic, Credential: webhook.Credential{Username: "u", Password: "p"}}}})
	if err != nil {
		t.Fatal(err)
	}
	stream := delivery.Stream(d.ID())
	data, err := n.codec.Encode(stream, eventlog.EventID(uuid.New()), d.Changes()[0], eventlog.Metadata{OccurredAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	var record map[string]any
	if err := json.Unmarshal(data.Data, &record); err != nil {
		t.Fatal(err)
	}
	record["settings"].(map[string]any)["api"].(map[string]any)["credential"].(map[string]any)["password"] = "damaged"
	if data.Data, err = json.Marshal(record); err != nil {
		t.Fatal(err)
	}
	if _, err := n.store.Append(context.Background(), stream, eventlog.NoStream(), []eventlog.EventData{data}); err != nil {
		t.Fatal(err)
	}

	if reason := parkedReason(t, h, d.ID()); reason != delivery.ReasonSecretUnopenable {
		t.Errorf("parked with reason %q, want %q", reason, delivery.ReasonSecretUnopenable)
	}
	if n := rcv.count(); n != 0 {
		t.Errorf("the receiver got %d requests, want none", n)
	}
}
