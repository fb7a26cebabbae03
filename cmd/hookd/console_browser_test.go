package main

// The console in a real browser: headless Chromium (Debian's chromium) driven by chromedp against a
// real hookd server and a real receiver on 127.0.0.1. Screenshots of every page go to
// $HOOKD_CONSOLE_SHOTS when it is set (docs/console/ holds a copy), else to the test's temporary
// directory.

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium tab and where its screenshots go.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

// chromiumPath finds the browser: HOOKD_CHROMIUM, else chromium on PATH. Its absence fails the test
// rather than skipping it: the console is only tested if a browser runs.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HOOKD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the console's browser tests need Chromium, and none is installed: apt-get install chromium " +
		"(.ci/run does), or set HOOKD_CHROMIUM to a Chrome or Chromium binary")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.WindowSize(1366, 900),
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-gpu", true))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	shots := os.Getenv("HOOKD_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{t: t, ctx: bctx, shots: shots}
}

// stepTimeout bounds each step, generously: it only catches a hang, on a machine several test
// runs share.
const stepTimeout = time.Minute

// run runs the actions and fails the test with what on an error.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// fail fails the test, showing where the browser is and what it shows.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
	b.t.Fatalf("%s: %v (at %s: %.600s)", what, err, loc, body)
}

// get runs one action that answers a value.
func get[T any](b *browser, what string, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// text returns the visible text of the first element the CSS selector sel selects.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return get(b, "reading "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// shot saves a full-page screenshot as name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png := get(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signIn signs in with key from the sign-in page.
func (b *browser) signIn(base, key string) {
	b.t.Helper()
	b.run("sign in", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible("#license"),
		chromedp.SendKeys("#license", key), chromedp.Submit("#license"),
		chromedp.WaitVisible("nav[aria-label=Main]"))
}

func wantContains(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("%s: %q does not contain %q", what, got, want)
	}
}

// waitDelivery waits until the webhook's newest delivery of eventName has status and returns its id.
func waitDeliveryStatus(h *testHookd, scope, webhookID, eventName, status string) string {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var page struct {
			Data []struct {
				ID, EventName, Status string
			}
		}
		h.mustJSON(h.system(http.MethodPost, scope+"/webhook/"+webhookID+"/deliveries/fetch",
			map[string]any{"eventName": eventName}), http.StatusOK, &page)
		if len(page.Data) > 0 && page.Data[0].Status == status {
			return page.Data[0].ID
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no delivery of %s reached %s: %+v", eventName, status, page.Data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConsoleInABrowser(t *testing.T) {
	t.Parallel()
	// A small breaker: three attempts in a minute, all failed, open a circuit for an hour, so that
	// it is still open when the pages are read. No other webhook here fails three times in a row.
	h := startHookd(t, map[string]string{"HOOKD_ALLOW_PRIVATE_TARGETS": "true", "HOOKD_BREAKER_MIN_ATTEMPTS": "3",
		"HOOKD_BREAKER_FAILURE_RATE": "100", "HOOKD_BREAKER_COOLDOWN": "1h", "HOOKD_BREAKER_MAX_COOLDOWN": "2h"})
	// The first delivery is refused (500 is not a retry code here, so it is parked at once); every
	// later request succeeds.
	recv := newReceiver(t, http.StatusInternalServerError, http.StatusOK)
	scope := apiScope("acme", "shop")
	hook := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"ORDER_PAID", "ORDER_SHIPPED"}, "name": "orders to billing", "tags": []string{"billing"},
		"api":          map[string]any{"url": recv.srv.URL + "/in", "authType": "bearer", "credential": map[string]any{"token": "tok-SECRET-bearer"}},
		"successCodes": []int{200}, "retryCodes": []int{}, "retryCount": 0, "ttl": 5,
	})
	apiCreate(h, h.license, apiScope("other", "place"), apiMinimal("elsewhere"))
	var published struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "ORDER_PAID", "payload": map[string]any{"order": 1}}, &published)
	failedID := waitDeliveryStatus(h, scope, hook.ID, "ORDER_PAID", "failed")

	// A webhook whose receiver always fails: its circuit opens, and its retries wait for it.
	down := newReceiver(t, http.StatusServiceUnavailable)
	flaky := apiCreate(h, h.license, scope, map[string]any{
		"eventNames": []string{"STOCK_LOW"}, "name": "stock to the warehouse", "api": map[string]any{"url": down.srv.URL + "/in"},
		"successCodes": []int{200}, "retryCodes": []int{503}, "retryCount": 2,
	})
	var batch struct{ IDs []string }
	apiPublish(h, h.license, scope, []map[string]any{{"eventName": "STOCK_LOW", "payload": map[string]any{"sku": 1}},
		{"eventName": "STOCK_LOW", "payload": map[string]any{"sku": 2}}, {"eventName": "STOCK_LOW", "payload": map[string]any{"sku": 3}}}, &batch)
	var waitingID string
	waitFor(t, 60*time.Second, "no delivery of the failing webhook waits for its circuit", func() bool {
		var page struct {
			Data []struct{ ID, WaitingFor string }
		}
		h.mustJSON(h.system(http.MethodPost, scope+"/webhook/"+flaky.ID+"/deliveries/fetch", map[string]any{}), http.StatusOK, &page)
		for _, d := range page.Data {
			if d.WaitingFor == "circuit_open" {
				waitingID = d.ID
			}
		}
		return waitingID != ""
	})

	b := newBrowser(t)
	base := h.url

	// Sign-in, and the pages reached by links only.
	b.run("open the console", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible("#license"))
	b.shot("01-signin")
	b.signIn(base, h.license)
	wantContains(t, "communities", b.text("main table"), "shop")
	b.shot("02-communities")

	b.run("open the community", chromedp.Click(`a[href="/console/t/acme/c/shop/"]`),
		chromedp.WaitVisible(`//h1[contains(., "Webhooks of acme / shop")]`))
	list := b.text("main table")
	for _, want := range []string{"orders to billing", "127.0.0.1", "ORDER_PAID", "billing", "failing", "0.0 %",
		"stock to the warehouse", "circuit open"} {
		wantContains(t, "webhook list", list, want)
	}
	b.shot("03-webhooks")

	b.run("open the webhook", chromedp.Click(`//a[text()="orders to billing"]`),
		chromedp.WaitVisible("#settings-title"))
	page := b.text("main")
	wantContains(t, "webhook page", page, "Created")
	wantContains(t, "webhook page", page, failedID)
	html := get(b, "page source", chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, "tok-SECRET-bearer") {
		t.Fatal("the webhook page shows the bearer token")
	}
	b.shot("04-webhook")

	b.run("open the delivery", chromedp.Click(`//a[text()="`+failedID+`"]`),
		chromedp.WaitVisible("#attempts-title"))
	page = b.text("main")
	for _, want := range []string{"failed", "Attempt 1", "500", "Authorization", "Bearer ••••••••", "webhook-id"} {
		wantContains(t, "delivery page", page, want)
	}
	b.shot("05-delivery")

	// Retry: the receiver gets the delivery again, under the same id.
	b.run("retry", chromedp.Click(`//button[text()="Retry delivery"]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "Retry requested")]`))
	got := recv.wait(2, 60*time.Second)
	if id := got[1].header.Get("webhook-id"); id != failedID {
		t.Fatalf("the retry arrived as delivery %q, want %q", id, failedID)
	}
	waitDeliveryStatus(h, scope, hook.ID, "ORDER_PAID", "succeeded")

	// Replay by filter: the count first, then the replay.
	apiPublish(h, h.license, scope, map[string]any{"eventName": "ORDER_SHIPPED", "payload": map[string]any{"order": 1}}, &published)
	shippedID := waitDeliveryStatus(h, scope, hook.ID, "ORDER_SHIPPED", "succeeded")
	b.run("open the webhook again", chromedp.Navigate(base+"/console/t/acme/c/shop/w/"+hook.ID),
		chromedp.WaitVisible("#replay-title"),
		chromedp.SetValue("#r-status", "succeeded"),
		chromedp.SendKeys("#r-event", "ORDER_SHIPPED"),
		chromedp.Click(`//button[text()="Count deliveries to replay"]`),
		chromedp.WaitVisible("#replay-count"))
	wantContains(t, "replay count", b.text("#replay-count"), "1 deliveries match")
	b.shot("06-replay-confirm")
	before := recv.count()
	b.run("confirm the replay", chromedp.Click(`//button[text()="Replay 1 deliveries"]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "Replay requested: 1 deliveries")]`))
	got = recv.wait(before+1, 60*time.Second)
	if id := got[before].header.Get("webhook-id"); id != shippedID {
		t.Fatalf("the replay arrived as delivery %q, want %q", id, shippedID)
	}

	// The failing webhook's page shows its open circuit from the endpoint's health, and its waiting
	// delivery what it waits for.
	b.run("open the failing webhook", chromedp.Navigate(base+"/console/t/acme/c/shop/w/"+flaky.ID),
		chromedp.WaitVisible("#endpoint-health"))
	wantContains(t, "the failing webhook's state", b.text("h1"), "circuit open")
	panel := b.text("#endpoint-health")
	for _, want := range []string{"open until", "cool-down", "1h0m0s", "0.0 %", "failing since"} {
		wantContains(t, "the health panel", panel, want)
	}
	if strings.Contains(panel, "not failing") || strings.Contains(panel, "closed") {
		t.Fatalf("the health panel of an endpoint that always failed: %q", panel)
	}
	b.shot("04b-circuit-open")
	b.run("open the waiting delivery", chromedp.Click(`//a[text()="`+waitingID+`"]`),
		chromedp.WaitVisible("#attempts-title"))
	wantContains(t, "the waiting delivery", b.text("#summary-title + dl"), "waiting for circuit_open until")
	b.shot("05b-waiting")

	// Create a webhook: a bad URL is refused beside its field with the API's words, then it works.
	b.run("open the create form", chromedp.Navigate(base+"/console/t/acme/c/shop/"),
		chromedp.Click(`//a[text()="Create webhook"]`), chromedp.WaitVisible("#name"),
		chromedp.SendKeys("#name", "audit trail"), chromedp.SendKeys("#url", "ftp://nowhere"),
		chromedp.Click(`input[name=eventName][value="ORDER_PAID"]`),
		chromedp.SendKeys("#tags", "audit"),
		chromedp.Click(`//button[text()="Create webhook"]`),
		chromedp.WaitVisible("#form-problems"))
	apiErr := h.system(http.MethodPut, scope+"/webhook", map[string]any{"eventNames": []string{"ORDER_PAID"}, "name": "x",
		"api": map[string]any{"url": "ftp://nowhere"}, "successCodes": []int{200}})
	var apiBody struct{ Message string }
	_ = json.Unmarshal(apiErr.Body, &apiBody)
	apiMsg := strings.TrimPrefix(apiBody.Message, "api.url ")
	if apiErr.Status != http.StatusBadRequest || apiMsg == apiBody.Message {
		t.Fatalf("the API's answer to the same URL: %d %s", apiErr.Status, apiErr.Body)
	}
	wantContains(t, "the URL's problem", b.text("#url-problems"), apiMsg)
	b.shot("07-create-invalid")
	b.run("fix the URL", chromedp.SetValue("#url", recv.srv.URL+"/audit"),
		chromedp.Click(`//button[text()="Create webhook"]`),
		chromedp.WaitVisible("#shown-secret"))
	secret := get(b, "read the secret", chromedp.Value(chromedp.CSS("#shown-secret")))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the new webhook's secret shown is %q", secret)
	}
	wantContains(t, "the new webhook", b.text("main"), "audit trail")
	b.shot("08-created")
	b.run("reload the new webhook", chromedp.Reload(), chromedp.WaitVisible("#settings-title"))
	secrets := get(b, "count secrets", chromedp.Evaluate[int](`document.querySelectorAll("#shown-secret").length`))
	if secrets != 0 {
		t.Fatal("the secret is shown again after a reload")
	}
	b.run("open the edit form", chromedp.Click(`//a[text()="Edit"]`), chromedp.WaitVisible("#name"))
	b.shot("09-edit")
	b.run("rename it", chromedp.SetValue("#name", "audit trail v2"), chromedp.SetValue("#tags", "audit, compliance"),
		chromedp.Click(`//button[text()="Save webhook"]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "Webhook saved.")]`))
	timeline := b.text("ol.timeline")
	for _, want := range []string{"Updated", "audit trail v2", "audit, compliance", "Created"} {
		wantContains(t, "the lifecycle after an edit", timeline, want)
	}
	diff := b.text("ol.timeline li:first-child table.diff tbody")
	wantContains(t, "the edit's diff", diff, "name\taudit trail\taudit trail v2")
	if strings.Contains(diff, "target URL") {
		t.Fatalf("the edit's diff shows a field it did not change: %q", diff)
	}
	b.run("disable it", chromedp.Click(`//button[text()="Disable"]`),
		chromedp.WaitVisible(`//h1/span[text()="disabled"]`),
		chromedp.Click(`//button[text()="Enable"]`), chromedp.WaitVisible(`//h1/span[text()="enabled"]`),
		chromedp.Click(`//button[text()="Rotate secret"]`), chromedp.WaitVisible("#shown-secret"))
	if rotated := get(b, "read the rotated secret", chromedp.Value(chromedp.CSS("#shown-secret"))); rotated == secret || rotated == "" {
		t.Fatalf("the rotated secret shown is %q", rotated)
	}
	timeline = b.text("ol.timeline")
	for _, want := range []string{"SecretRotated", "Enabled", "Disabled"} {
		wantContains(t, "the lifecycle after the actions", timeline, want)
	}
	b.shot("09b-lifecycle")

	// The live view shows a new delivery without a reload.
	b.run("open the live view", chromedp.Navigate(base+"/console/"), chromedp.Click(`//nav[@aria-label="Main"]/a[text()="Live"]`),
		chromedp.WaitVisible(`//p[@id="live-status"][starts-with(., "Live")]`))
	apiPublish(h, h.license, scope, map[string]any{"eventName": "ORDER_PAID", "payload": map[string]any{"order": 2}}, &published)
	b.run("see the delivery live", chromedp.WaitVisible(`//table[@id="live"]//td[text()="ORDER_PAID"]`))
	wantContains(t, "live row", b.text("#live tbody"), "acme / shop")
	b.shot("10-live")

	// Sign-out ends the session.
	b.run("sign out", chromedp.Click(`button[aria-label="Sign out"]`),
		chromedp.WaitVisible(`//p[@role="alert"][text()="Signed out."]`),
		chromedp.Navigate(base+"/console/"), chromedp.WaitVisible("#license"))

	// A service license of acme/shop: its community only, another tenant's page refused.
	out, err := h.runCLI("license", "issue", "--level", "service", "--tenant", "acme", "--community", "shop")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(out)
	serviceKey, serviceID := fields[len(fields)-1], fields[2]
	b.signIn(base, serviceKey)
	list = b.text("main table")
	wantContains(t, "service overview", list, "shop")
	if strings.Contains(list, "place") {
		t.Fatalf("a service license of acme/shop sees another tenant: %q", list)
	}
	// The page answers 403, and chromedp.Navigate, which waits for the navigation's load event, hung
	// on it twice in full-suite runs with the page already shown: the page navigates itself and the
	// test waits for the refusal's heading, which no earlier page has.
	get(b, "open another tenant", chromedp.Evaluate[bool](`setTimeout(() => location.assign(`+strconv.Quote(base+"/console/t/other/c/place/")+`), 0), true`))
	b.run("see another tenant refused", chromedp.WaitVisible(`//h1[starts-with(., "403")]`))
	wantContains(t, "another tenant's page", b.text("main"), "403")
	wantContains(t, "another tenant's page", b.text("main"), "does not cover tenant other")
	b.shot("11-forbidden")

	// Revoking the license ends its session at the next request.
	if _, err := h.runCLI("license", "revoke", serviceID); err != nil {
		t.Fatal(err)
	}
	// Another process revoked it: the server knows once its licenses read model has polled the log,
	// which the API's refusal shows; the console's next request must then end the session.
	apiEventually(t, 30*time.Second, "the API still takes the revoked license", func() bool {
		return h.as(serviceKey, http.MethodPost, scope+"/webhooks/fetch", nil).Status == http.StatusUnauthorized
	})
	b.run("after the revocation", chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(`//p[@role="alert"][contains(., "revoked")]`))
	b.shot("12-revoked")
}
