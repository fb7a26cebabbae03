package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/adapters/readmodeldb"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/platform"
)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a webhook target on 127.0.0.1: it records every request and answers with the next of
// its statuses (the last one repeats).
type receiver struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	got      []received
	statuses []int
	arrived  chan struct{}
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	r := &receiver{t: t, statuses: statuses, arrived: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: body, at: time.Now()})
		status := r.statuses[min(len(r.got), len(r.statuses))-1]
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "thanks")
		r.arrived <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// wait returns the first n requests once they have arrived.
func (r *receiver) wait(n int, within time.Duration) []received {
	r.t.Helper()
	deadline := time.After(within)
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			out := append([]received(nil), r.got[:n]...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.arrived:
		case <-deadline:
			r.t.Fatalf("the receiver got %d requests, want %d", r.count(), n)
		}
	}
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// deliveryEnv lets deliveries reach the test's receivers on 127.0.0.1.
var deliveryEnv = map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true"}

// loadDelivery reads a delivery from the log through a second node on the server's data directory,
// as another process would.
func loadDelivery(h *testHookd, id string) (*delivery.Delivery, error) {
	n, err := openNode(context.Background(), h.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer n.close()
	return n.deliveries.Load(context.Background(), id)
}

// waitDelivery waits until the delivery has been scheduled (the dispatcher does so after the
// publish's answer) and has finished in the log.
func waitDelivery(t *testing.T, h *testHookd, id string) *delivery.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := loadDelivery(h, id)
		if err != nil && !errors.Is(err, delivery.ErrNotFound) {
			t.Fatalf("loading delivery %s: %v", id, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s: not finished after 20 s (%v)", id, err)
		}
		if err == nil && d.Status() != delivery.StatusScheduled {
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verifyV1a checks the request's v1a entry with the signing key /.well-known publishes.
func verifyV1a(t *testing.T, h *testHookd, got received) {
	t.Helper()
	var wellKnown struct {
		Keys []struct{ PublicKey string } `json:"webhook_signing_keys"`
	}
	h.mustJSON(h.do(http.MethodGet, "/.well-known", nil, nil), http.StatusOK, &wellKnown)
	if len(wellKnown.Keys) != 1 {
		t.Fatalf("/.well-known publishes %d signing keys, want 1", len(wellKnown.Keys))
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(wellKnown.Keys[0].PublicKey, "whpk_"))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		t.Fatalf("signing key %q: %v", wellKnown.Keys[0].PublicKey, err)
	}
	signed := got.header.Get("Webhook-Id") + "." + got.header.Get("Webhook-Timestamp") + "." + string(got.body)
	for _, entry := range strings.Fields(got.header.Get("Webhook-Signature")) {
		if sig, ok := strings.CutPrefix(entry, "v1a,"); ok {
			raw64, err := base64.StdEncoding.DecodeString(sig)
			if err != nil || !ed25519.Verify(raw, []byte(signed), raw64) {
				t.Errorf("the v1a signature does not verify with the published key")
			}
			return
		}
	}
	t.Errorf("no v1a entry in %q", got.header.Get("Webhook-Signature"))
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// orderedIDForm is the form of an ordered delivery id: a lowercase RFC 9562 UUIDv8.
var orderedIDForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestDeliverySignedSentAndRecorded(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"USER_CREATED"}, "name": "signed", "secret": testSecret,
		"query": []map[string]any{{"user.plan": "pro"}}, "criteria": "ALL",
		"api":          map[string]any{"url": rcv.srv.URL + "/in", "authType": "bearer", "credential": map[string]any{"token": "tok-1"}},
		"successCodes": []int{200},
	})
	// Not delivered: another name, and a payload the query does not match.
	apiPublish(h, h.license, scope, map[string]any{"eventName": "USER_DELETED", "payload": map[string]any{"user": map[string]any{"plan": "pro"}}}, nil)
	apiPublish(h, h.license, scope, map[string]any{"eventName": "USER_CREATED", "payload": map[string]any{"user": map[string]any{"plan": "free"}}}, nil)
	payload := json.RawMessage(`{"user":{"plan":"pro","id":2,"name":"<Zoë>"},"10":1e3,"2":0.5}`)
	var published struct{ ID string }
	before := time.Now()
	apiPublish(h, h.license, scope, map[string]any{"eventName": "USER_CREATED", "payload": payload}, &published)
	after := time.Now()

	got := rcv.wait(1, 20*time.Second)[0]
	// The webhook-id is the ordered delivery id: a UUIDv8 led by the millisecond the event was accepted.
	webhookID := got.header.Get("Webhook-Id")
	if !orderedIDForm.MatchString(webhookID) {
		t.Errorf("webhook-id %q is not a lowercase UUIDv8", webhookID)
	} else if ms, _ := strconv.ParseInt(strings.ReplaceAll(webhookID[:13], "-", ""), 16, 64); ms < before.UnixMilli() || ms > after.UnixMilli() {
		t.Errorf("webhook-id %s begins with %v, not the time the event was published (%v to %v)",
			webhookID, time.UnixMilli(ms), before, after)
	}
	wantBody, err := webhooksig.Body("USER_CREATED", payload)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.body) != string(wantBody) {
		t.Errorf("body %s\nwant %s", got.body, wantBody)
	}
	id := deliveryIDOf(t, h, published.ID, hook.ID)
	for name, want := range map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer tok-1", "Webhook-Id": id,
	} {
		if v := got.header.Get(name); v != want {
			t.Errorf("%s: %q, want %q", name, v, want)
		}
	}
	if ua := got.header.Get("User-Agent"); len(ua) < 6 || ua[:6] != "hookd/" {
		t.Errorf("User-Agent %q, want hookd/<version>", ua)
	}
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write(got.body)
	if v := got.header.Get(webhooksig.HeaderCosmo); v != hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("%s %q does not verify", webhooksig.HeaderCosmo, v)
	}
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.body, got.header); err != nil {
		t.Errorf("the Standard Webhooks library rejects the delivery: %v (headers %v)", err, got.header)
	}

	verifyV1a(t, h, got)

	d := waitDelivery(t, h, id)
	// The log records no body: the one sent (above) was built from the published event.
	if d.Status() != delivery.StatusSucceeded || d.Attempts() != 1 || d.BodyFormat() != delivery.BodyBuiltV1 || d.Body() != "" {
		t.Errorf("delivery in the log: %v after %d attempts, body format %d, body %q; want succeeded after 1, format 1 without a body",
			d.Status(), d.Attempts(), d.BodyFormat(), d.Body())
	}
	time.Sleep(200 * time.Millisecond)
	if n := rcv.count(); n != 1 {
		t.Errorf("the receiver got %d requests, want only the matching event's", n)
	}
}

func TestDeliveryRetriesWithTheSameIDAndBody(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusServiceUnavailable, http.StatusOK)
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "retried", "api": map[string]any{"url": rcv.srv.URL},
		"successCodes": []int{200}, "retryCodes": []int{503}, "retryCount": 1,
	})
	var published struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{"n": 1}}, &published)
	got := rcv.wait(2, 20*time.Second)
	if got[0].header.Get("Webhook-Id") != got[1].header.Get("Webhook-Id") || string(got[0].body) != string(got[1].body) {
		t.Errorf("the retry differs: ids %q %q", got[0].header.Get("Webhook-Id"), got[1].header.Get("Webhook-Id"))
	}
	id := deliveryIDOf(t, h, published.ID, hook.ID)
	d := waitDelivery(t, h, id)
	if d.Status() != delivery.StatusSucceeded || d.Attempts() != 2 {
		t.Errorf("delivery: %v after %d attempts, want succeeded after 2", d.Status(), d.Attempts())
	}
	// The backoff counts from the attempt's recorded time, which is taken before the request is
	// sent: the receiver's receipt of the first attempt comes some unknown time later (more on a
	// loaded machine), so the gap between the two receipts says nothing. The promise is that the
	// retry is due 1 s (±20 % jitter) after the first attempt and is not sent before it is due.
	first := newTestLog(h).attempted(id, 1)
	if wait := first.RetryAt.Sub(first.At); wait < 800*time.Millisecond || wait > 1200*time.Millisecond {
		t.Errorf("the retry was due %v after the first attempt, want 1 s ± 20 %%", wait)
	}
	if got[1].at.Before(first.RetryAt) {
		t.Errorf("the retry came at %v, before it was due (%v)", got[1].at, first.RetryAt)
	}
}

// TestDeliveryKill9LosesNothing kills a real `hookd serve` with SIGKILL while it delivers thousands
// of events, starts it again on the same data directory, and counts what the receiver got: every
// published event arrives, and events arrive twice only if they were in flight at the kill, with the
// same webhook-id and body.
func TestDeliveryKill9LosesNothing(t *testing.T) {
	t.Parallel()
	// 16 attempts in flight to a receiver that takes 10 ms deliver at most 1,600 a second: the
	// publishing (about a second) is done well before the deliveries, and the kill lands mid-way.
	const events, concurrency = 3000, 16
	bin := buildHookd(t)
	dataDir := t.TempDir()
	env := []string{"HOOKD_ALLOW_PRIVATE_TARGETS=true", fmt.Sprintf("HOOKD_DELIVERY_CONCURRENCY=%d", concurrency)}
	rcv := newClusterReceiver(t, 10*time.Millisecond)

	first := startProcess(t, bin, dataDir, env...)
	h := &testHookd{t: t, url: first.url, http: &http.Client{Timeout: 30 * time.Second}, license: readBootstrapLicense(t, dataDir)}
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "survivor", "api": map[string]any{"url": rcv.srv.URL},
		"successCodes": []int{200}, "retryCodes": []int{0, 503}, "retryCount": 2,
	})
	var ids []string
	for len(ids) < events {
		batch := make([]map[string]any, 500)
		for i := range batch {
			batch[i] = map[string]any{"eventName": "E", "payload": map[string]any{"n": len(ids) + i}}
		}
		var out struct{ IDs []string }
		apiPublish(h, h.license, scope, batch, &out)
		ids = append(ids, out.IDs...)
	}
	// Kill it mid-way: some delivered, many still scheduled or in flight.
	deadline := time.Now().Add(60 * time.Second)
	for rcv.distinct() < events/3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	atKill := rcv.distinct()
	if atKill >= events {
		t.Fatalf("everything was delivered before the kill (%d); the test proves nothing", atKill)
	}

	restarted := time.Now()
	second := startProcess(t, bin, dataDir, env...)
	for rcv.distinct() == atKill && time.Since(restarted) < 30*time.Second {
		time.Sleep(time.Millisecond)
	}
	recovery := time.Since(restarted)
	for rcv.distinct() < events && time.Now().Before(deadline.Add(60*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	second.stop(t)
	t.Logf("recovery: the first redelivery arrived %v after the restart began (process start included)", recovery.Round(time.Millisecond))

	log := openLogReader(t, testConfig(t, dataDir, nil))
	deliveries := make([]string, len(ids))
	for i, id := range ids {
		deliveries[i] = deliveryIDIn(t, log, id, hook.ID)
	}
	lost, duplicates := rcv.tallyOf(deliveries)
	t.Logf("%d events: %d delivered before the kill, %d lost, %d delivered twice", events, atKill, lost, duplicates)
	if lost != 0 {
		t.Errorf("%d of %d acknowledged events were never delivered", lost, events)
	}
	rcv.repeatsBounded(t, duplicates, concurrency)
}

// TestBlockedTargetsAreRefusedAtCreateAndUpdate: without HOOKD_ALLOW_PRIVATE_TARGETS, a webhook or
// token URL that is a literal blocked address, in any spelling, is 400 and nothing is written.
func TestBlockedTargetsAreRefusedAtCreateAndUpdate(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	for _, target := range []string{
		"http://127.0.0.1/in", "http://2130706433/in", "http://0x7f000001/in", "http://0177.0.0.1/in",
		"http://[::ffff:127.0.0.1]/in", "http://169.254.169.254/latest/meta-data", "http://10.0.0.8/in",
		"http://localhost:8080/in", "http://[::1]/in", "http://0.0.0.0/in",
	} {
		body := apiMinimal("blocked")
		body["api"] = map[string]any{"url": target}
		apiWantError(t, h.system(http.MethodPut, scope+"/webhook", body), http.StatusBadRequest, "api.url")
	}
	oauth := apiMinimal("blocked token endpoint")
	oauth["api"] = map[string]any{"url": "https://hooks.example.com/in", "authType": "oauth2",
		"oAuthGrantType": "client_credentials", "oAuthTokenUrl": "http://[fd00::1]/token",
		"credential": map[string]any{"oauth2": map[string]any{"clientId": "id", "clientSecret": "s"}}}
	apiWantError(t, h.system(http.MethodPut, scope+"/webhook", oauth), http.StatusBadRequest, "api.oAuthTokenUrl")
	if p := apiFetch(h, h.license, scope, nil); p.Page.Total != 0 {
		t.Fatalf("refused creates wrote %d webhooks", p.Page.Total)
	}

	w := apiCreate(h, h.license, scope, apiMinimal("public"))
	apiWantError(t, h.system(http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"api": map[string]any{"url": "http://192.168.1.1/x"}}),
		http.StatusBadRequest, "api.url")
	var got apiWebhookJSON
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, &got)
	if got.API.URL != "https://hooks.example.com/in" || got.Version != w.Version {
		t.Errorf("a refused update changed the webhook: %s at version %d", got.API.URL, got.Version)
	}
}

// TestDeliveryReplayedFromTheLog: a parked delivery, replayed through the API in both modes, is sent
// again by the running pipeline with the same webhook-id and body, a new timestamp and signature;
// mode current sends to the webhook's present URL, mode original to the URL of the first delivery.
func TestDeliveryReplayedFromTheLog(t *testing.T) {
	t.Parallel()
	before := newReceiver(t, http.StatusNotFound) // rejects: parked at once
	after := newReceiver(t, http.StatusOK)
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "replayed", "api": map[string]any{"url": before.srv.URL},
		"successCodes": []int{200},
	})
	var published struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{"n": 1}}, &published)
	first := before.wait(1, 20*time.Second)[0]
	id := deliveryIDOf(t, h, published.ID, hook.ID)
	if d := waitDelivery(t, h, id); d.Status() != delivery.StatusFailed {
		t.Fatalf("after a 404 the delivery is %v, want failed (parked)", d.Status())
	}

	// The integrator moves the webhook, then replays: mode current goes to the new URL.
	h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+hook.ID, map[string]any{"api": map[string]any{"url": after.srv.URL}}), http.StatusOK, nil)
	replay := func(mode string) {
		t.Helper()
		var out struct{ Replayed int }
		h.mustJSON(h.system(http.MethodPost, scope+"/webhook/"+hook.ID+"/replay", map[string]any{"deliveryIds": []string{id}, "mode": mode}),
			http.StatusAccepted, &out)
		if out.Replayed != 1 {
			t.Fatalf("replay %s: %d replayed, want 1", mode, out.Replayed)
		}
	}
	time.Sleep(1100 * time.Millisecond) // a new second, so the timestamp must differ
	replay("current")
	again := after.wait(1, 20*time.Second)[0]
	if again.header.Get("Webhook-Id") != id || string(again.body) != string(first.body) {
		t.Errorf("the replay carries id %q and body %s; want %q and %s", again.header.Get("Webhook-Id"), again.body, id, first.body)
	}
	if again.header.Get("Webhook-Timestamp") == first.header.Get("Webhook-Timestamp") ||
		again.header.Get("Webhook-Signature") == first.header.Get("Webhook-Signature") {
		t.Errorf("the replay reuses the first attempt's timestamp or signature")
	}
	if d := waitDelivery(t, h, id); d.Status() != delivery.StatusSucceeded || d.Attempts() != 2 {
		t.Fatalf("after the replay: %v after %d attempts, want succeeded after 2", d.Status(), d.Attempts())
	}

	// Mode original goes where the first delivery went, which still answers 404.
	replay("original")
	before.wait(2, 20*time.Second)
	if d := waitDelivery(t, h, id); d.Status() != delivery.StatusFailed || d.Attempts() != 3 {
		t.Errorf("after the original-mode replay: %v after %d attempts, want failed after 3", d.Status(), d.Attempts())
	}
	if n := after.count(); n != 1 {
		t.Errorf("the present URL got %d requests, want only the current-mode replay's", n)
	}
}

// TestPlatformEventsGoToWebhookURL: a platform event published by a system license is delivered to
// WEBHOOK_URL with Cosmo's body and signature, and retried after a 5xx as Cosmo retries.
func TestPlatformEventsGoToWebhookURL(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusBadGateway, http.StatusOK)
	const secret = "platform-secret"
	h := startHookd(t, map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_URL": rcv.srv.URL + "/cosmo", "WEBHOOK_SECRET": secret})
	var published struct{ ID string }
	h.mustJSON(h.system(http.MethodPost, "/platform/events", map[string]any{
		"event": "USER_REGISTER_SUCCESS", "payload": map[string]any{"user_id": "u1", "user_email": "a@example.com"},
	}), http.StatusAccepted, &published)
	got := rcv.wait(2, 20*time.Second)
	want := `{"version":1,"event":"USER_REGISTER_SUCCESS","payload":{"user_email":"a@example.com","user_id":"u1"}}`
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(want))
	for i, r := range got {
		if string(r.body) != want {
			t.Errorf("request %d body %s, want %s", i, r.body, want)
		}
		if v := r.header.Get(webhooksig.HeaderCosmo); v != hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("request %d: %s %q does not verify with WEBHOOK_SECRET", i, webhooksig.HeaderCosmo, v)
		}
	}
	if gap := got[1].at.Sub(got[0].at); gap < 700*time.Millisecond || gap > 3*time.Second {
		t.Errorf("the retry came %v after the 502, want about 1 s", gap)
	}
	if d := waitDelivery(t, h, deliveryIDOf(t, h, published.ID, "platform")); d.Status() != delivery.StatusSucceeded || d.Attempts() != 2 {
		t.Errorf("platform delivery: %v after %d attempts", d.Status(), d.Attempts())
	}

	service := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	apiWantError(t, h.as(service, http.MethodPost, "/platform/events", map[string]any{"event": "USER_REGISTER_SUCCESS", "payload": map[string]any{}}),
		http.StatusForbidden)
	apiWantError(t, h.system(http.MethodPost, "/platform/events", map[string]any{"event": "USER_LOGIN", "payload": map[string]any{}}),
		http.StatusBadRequest, "event")
	apiWantError(t, h.system(http.MethodPost, "/platform/events", map[string]any{"event": "USER_DELETE_SUCCESS", "payload": []int{1}}),
		http.StatusBadRequest, "payload")
	apiWantError(t, h.system(http.MethodPost, apiScope(platform.Scope, "c1")+"/events", map[string]any{"eventName": "E", "payload": map[string]any{}}),
		http.StatusBadRequest, "reserved")
	time.Sleep(200 * time.Millisecond)
	if n := rcv.count(); n != 2 {
		t.Errorf("WEBHOOK_URL got %d requests, want the one event's two attempts", n)
	}
}

// TestPlatformEventsUnsignedWithoutSecret: with WEBHOOK_SECRET empty, no X-Cosmo-Signature-256.
func TestPlatformEventsUnsignedWithoutSecret(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_URL": rcv.srv.URL})
	h.mustJSON(h.system(http.MethodPost, "/platform/events", map[string]any{
		"event": "APOLLO_MIGRATE_INIT", "payload": map[string]any{"organization_id": "o1"},
	}), http.StatusAccepted, nil)
	got := rcv.wait(1, 20*time.Second)[0]
	if v, ok := got.header[http.CanonicalHeaderKey(webhooksig.HeaderCosmo)]; ok {
		t.Errorf("%s sent without a secret: %v", webhooksig.HeaderCosmo, v)
	}
}

// TestDeliveryDuringARotationVerifiesWithBothSecrets: after POST .../secret/rotate, deliveries carry
// a v1 entry for the new secret and one for the old, so receivers holding either verify.
func TestDeliveryDuringARotationVerifiesWithBothSecrets(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "rotating", "secret": testSecret,
		"api": map[string]any{"url": rcv.srv.URL}, "successCodes": []int{200},
	})
	const rotated = "whsec_" + "QWxsIHRoYXQgaXMgZ29sZCBkb2VzIG5vdCBnbGl0dGVy"
	h.mustJSON(h.system(http.MethodPost, scope+"/webhook/"+hook.ID+"/secret/rotate", map[string]any{"secret": rotated}), http.StatusOK, nil)
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{"n": 1}}, nil)
	got := rcv.wait(1, 20*time.Second)[0]
	for _, secret := range []string{rotated, testSecret} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(got.body, got.header); err != nil {
			t.Errorf("a receiver holding %s cannot verify: %v", secret[:12], err)
		}
	}
	mac := hmac.New(sha256.New, []byte(rotated))
	mac.Write(got.body)
	if v := got.header.Get(webhooksig.HeaderCosmo); v != hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("%s is not made with the new secret", webhooksig.HeaderCosmo)
	}
}

// TestDeliverySIGTERMHandsOverCleanly stops a real `hookd serve` with SIGTERM while deliveries are
// in flight to a slow receiver: it exits with status 0 after finishing and recording what was in
// flight, and the next start delivers the rest, each exactly once.
func TestDeliverySIGTERMHandsOverCleanly(t *testing.T) {
	t.Parallel()
	const events = 400
	bin := buildHookd(t)
	dataDir := t.TempDir()
	env := []string{"HOOKD_ALLOW_PRIVATE_TARGETS=true", "HOOKD_DELIVERY_CONCURRENCY=32"}
	rcv := newClusterReceiver(t, 100*time.Millisecond)

	first := startProcess(t, bin, dataDir, env...)
	h := &testHookd{t: t, url: first.url, http: &http.Client{Timeout: 30 * time.Second}, license: readBootstrapLicense(t, dataDir)}
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "slow", "api": map[string]any{"url": rcv.srv.URL},
		"successCodes": []int{200}, "retryCodes": []int{0}, "retryCount": 2,
	})
	batch := make([]map[string]any, events)
	for i := range batch {
		batch[i] = map[string]any{"eventName": "E", "payload": map[string]any{"n": i}}
	}
	var out struct{ IDs []string }
	apiPublish(h, h.license, scope, batch, &out)
	deadline := time.Now().Add(30 * time.Second)
	for rcv.distinct() < 50 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	first.stop(t) // SIGTERM; fails the test unless the exit status is 0 within 20 s
	atStop := rcv.distinct()
	if atStop >= events {
		t.Fatalf("everything was delivered before the stop (%d); the test proves nothing", atStop)
	}

	second := startProcess(t, bin, dataDir, env...)
	for rcv.distinct() < events && time.Now().Before(deadline.Add(60*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	second.stop(t)
	// The bound: a delivery arrives twice only when the first process reported its attempt cut
	// short, which happens once the stop's grace period (10 s) has run out with attempts still in
	// flight — possible on a starved machine, where the receiver may have had the request. Any
	// other duplicate is a bug; the processes' warnings say which path it took.
	warnings, cutShort := first.logged()
	log := openLogReader(t, testConfig(t, dataDir, nil))
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	lost, duplicates, unexplained := 0, 0, 0
	for _, id := range out.IDs {
		did := deliveryIDIn(t, log, id, hook.ID)
		n := rcv.count[did]
		if n == 0 {
			lost++
		}
		duplicates += max(n-1, 0)
		if n > 2 || n == 2 && !cutShort[did] {
			unexplained += n - 1
		}
	}
	t.Logf("%d events: %d delivered before SIGTERM, %d lost, %d delivered twice, %d attempts cut short by the grace period",
		events, atStop, lost, duplicates, len(cutShort))
	if lost != 0 || unexplained != 0 {
		later, _ := second.logged()
		t.Errorf("after a graceful stop: %d lost, %d duplicates not cut short by the grace period; want none of either\nwarnings of the first process:\n%s\nof the second:\n%s",
			lost, unexplained, strings.Join(warnings, "\n"), strings.Join(later, "\n"))
	}
}

// TestDispatchingAgainSchedulesNothingTwice loses the dispatcher's checkpoint, so that a restart goes over every published event again: no delivery is scheduled or sent twice,
// and a webhook created after an event was published does not receive it.
func TestDispatchingAgainSchedulesNothingTwice(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	dir := t.TempDir()
	h := startHookdIn(t, dir, deliveryEnv)
	scope := apiScope("t1", "c1")
	body := func(name string) map[string]any {
		return map[string]any{"eventNames": []string{"E"}, "name": name, "api": map[string]any{"url": rcv.srv.URL}, "successCodes": []int{200}}
	}
	early := apiCreate(h, h.license, scope, body("early"))
	var first struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{"n": 1}}, &first)
	rcv.wait(1, 20*time.Second)
	late := apiCreate(h, h.license, scope, body("late"))
	h.cancel()
	if err := h.inst.wait(); err != nil {
		t.Fatal(err)
	}

	db, err := readmodeldb.Open(filepath.Join(dir, readModelsFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM projection_checkpoints WHERE name = 'dispatch'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	again := startHookdIn(t, dir, deliveryEnv)
	var second struct{ ID string }
	apiPublish(again, again.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{"n": 2}}, &second)
	got := rcv.wait(3, 20*time.Second)
	time.Sleep(300 * time.Millisecond) // anything scheduled twice would arrive by now
	ids := map[string]int{}
	rcv.mu.Lock()
	for _, r := range rcv.got {
		ids[r.header.Get("Webhook-Id")]++
	}
	rcv.mu.Unlock()
	want := map[string]int{
		deliveryIDOf(t, again, first.ID, early.ID): 1, deliveryIDOf(t, again, second.ID, early.ID): 1, deliveryIDOf(t, again, second.ID, late.ID): 1,
	}
	if len(got) != 3 || !maps.Equal(ids, want) {
		t.Errorf("deliveries by webhook-id %v, want %v (the first event once, to the early webhook only)", ids, want)
	}
}

// TestDeliveryRespectsTheWebhooksRateLimit: a webhook with rateLimit 5 receives a burst of 20
// events at 5 requests per second after the first second's worth.
func TestDeliveryRespectsTheWebhooksRateLimit(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "limited", "api": map[string]any{"url": rcv.srv.URL},
		"successCodes": []int{200}, "rateLimit": 5,
	})
	if hook.RateLimit != 5 {
		t.Fatalf("create answered rateLimit %d, want 5", hook.RateLimit)
	}
	batch := make([]map[string]any, 20)
	for i := range batch {
		batch[i] = map[string]any{"eventName": "E", "payload": map[string]any{"n": i}}
	}
	apiPublish(h, h.license, scope, batch, nil)
	got := rcv.wait(20, 30*time.Second)
	// A bucket of 5 refilled at 5 a second: 15 requests after the first 5 take 3 s.
	if span := got[19].at.Sub(got[0].at); span < 2500*time.Millisecond {
		t.Errorf("20 requests arrived within %v, want about 3 s at 5 a second", span)
	}
	for i := range got {
		n := 0
		for _, r := range got[i:] {
			if r.at.Sub(got[i].at) < time.Second {
				n++
			}
		}
		if n > 11 {
			t.Errorf("%d requests within a second from request %d, want at most the burst and a second's rate (10)", n, i)
		}
	}
	apiWantError(t, h.system(http.MethodPatch, scope+"/webhook/"+hook.ID, map[string]any{"rateLimit": 10_001}), http.StatusBadRequest, "rateLimit")
}

// TestDeliveryTTLBoundsAnAttempt: ttl 1 gives up on a receiver that takes 3 s; without 0 among its
// retry codes the delivery is parked at once, recorded as a timeout.
func TestDeliveryTTLBoundsAnAttempt(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"E"}, "name": "impatient", "api": map[string]any{"url": slow.URL},
		"successCodes": []int{200}, "retryCodes": []int{503}, "retryCount": 2, "ttl": 1,
	})
	var published struct{ ID string }
	started := time.Now()
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{}}, &published)
	d := waitDelivery(t, h, deliveryIDOf(t, h, published.ID, hook.ID))
	if d.Status() != delivery.StatusFailed || d.Attempts() != 1 {
		t.Fatalf("delivery %v after %d attempts, want failed after 1", d.Status(), d.Attempts())
	}
	if took := time.Since(started); took > 2500*time.Millisecond {
		t.Errorf("the attempt took %v: ttl 1 was not applied", took)
	}
	var page struct {
		Data []struct {
			Attempts []struct {
				Status     int
				ErrorClass string
			}
		}
	}
	// The delivery log is a read model: it may lag the log by a batch.
	apiEventually(t, 30*time.Second, "the delivery log does not show the attempt", func() bool {
		h.mustJSON(h.system(http.MethodPost, scope+"/webhook/"+hook.ID+"/deliveries/fetch", map[string]any{}), http.StatusOK, &page)
		return len(page.Data) == 1 && len(page.Data[0].Attempts) == 1
	})
	if len(page.Data) != 1 || len(page.Data[0].Attempts) != 1 || page.Data[0].Attempts[0].Status != 0 ||
		page.Data[0].Attempts[0].ErrorClass != "timeout" {
		t.Errorf("the delivery log shows %+v, want one attempt with no status, class timeout", page.Data)
	}
}

// TestDispatchFollowsWebhookChangesBetweenEvents: the dispatcher keeps the subscribers of an event
// name between events; a webhook created or disabled in between is taken into account at once.
func TestDispatchFollowsWebhookChangesBetweenEvents(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, http.StatusOK)
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	body := func(name string) map[string]any {
		return map[string]any{"eventNames": []string{"E"}, "name": name, "api": map[string]any{"url": rcv.srv.URL}, "successCodes": []int{200}}
	}
	publish := func() string {
		var out struct{ ID string }
		apiPublish(h, h.license, scope, map[string]any{"eventName": "E", "payload": map[string]any{}}, &out)
		return out.ID
	}
	a := apiCreate(h, h.license, scope, body("a"))
	e1 := publish()
	rcv.wait(1, 20*time.Second)
	b := apiCreate(h, h.license, scope, body("b"))
	e2 := publish()
	rcv.wait(3, 20*time.Second)
	h.mustJSON(h.system(http.MethodPatch, scope+"/webhook/"+a.ID, map[string]any{"disabled": true}), http.StatusOK, nil)
	e3 := publish()
	rcv.wait(4, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	got := map[string]int{}
	rcv.mu.Lock()
	for _, r := range rcv.got {
		got[r.header.Get("Webhook-Id")]++
	}
	rcv.mu.Unlock()
	want := map[string]int{
		deliveryIDOf(t, h, e1, a.ID): 1, deliveryIDOf(t, h, e2, a.ID): 1, deliveryIDOf(t, h, e2, b.ID): 1, deliveryIDOf(t, h, e3, b.ID): 1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("deliveries %v, want %v", got, want)
	}
}
