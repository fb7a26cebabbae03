package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

// A webhook hookd disabled for failing (its endpoint failing for six days, its circuit open), then
// enabled through the console's own Enable form, starts afresh: the console's endpoint panel and
// the API's health show no failures, no failing since, a closed circuit and no reason to be
// disabled. The clock is run forward: the attempts, the circuit and the disabling are written to
// the log as the pipeline would have written them over those days.
func TestConsoleEnableResetsTheHealthOfAWebhookDisabledForFailing(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("dead"))
	now := time.Now()
	failingSince := now.Add(-6 * 24 * time.Hour)
	for _, at := range []time.Time{failingSince, now.Add(-3 * 24 * time.Hour), now.Add(-time.Hour), now.Add(-10 * time.Minute)} {
		l.deliver(w, "E_A", at, 500)
	}
	hook := loadWebhook(t, l, w.ID)
	breaker := webhook.Breaker{Window: time.Hour, MinAttempts: 2, FailureRate: 0.5, CoolDown: time.Hour, MaxCoolDown: 4 * time.Hour}
	if err := hook.OpenCircuit(breaker, now.Add(-5*time.Minute), 2, 2); err != nil {
		t.Fatal(err)
	}
	if err := hook.DisableFor(webhook.DisabledFailing, failingSince); err != nil {
		t.Fatal(err)
	}
	appendWebhook(t, l, hook)
	apiEventually(t, 30*time.Second, "the API does not show the webhook disabled for failing", func() bool {
		disabled, health := apiHealth(h, scope, w.ID)
		return disabled && health.DisabledReason == webhook.DisabledFailing && health.ConsecutiveFailures == 4
	})
	if _, health := apiHealth(h, scope, w.ID); health.FailingSince == nil || health.Circuit.State != "open" {
		t.Fatalf("before enabling: health %+v, want failing for 6 days and the circuit open", health)
	}

	cc := newConsoleClient(t, h.url)
	cc.signIn(h.license)
	page := "/console/t/t1/c/c1/w/" + w.ID
	_, _, before := cc.do(http.MethodGet, page, nil)
	panel := endpointHealthPanel(t, before)
	for _, shown := range []string{`circuit open`, `>4</dd>`, `disabled by hookd`} {
		if !strings.Contains(panel, shown) {
			t.Fatalf("before enabling, the endpoint panel lacks %q:\n%s", shown, panel)
		}
	}
	if !strings.Contains(before, `action="`+page+`/enable"`) {
		t.Fatalf("the page of a disabled webhook has no Enable form:\n%.2000s", before)
	}
	status, hdr, body := cc.do(http.MethodPost, page+"/enable", url.Values{"csrf": {csrfOf(t, before)}})
	if status != http.StatusSeeOther || hdr.Get("Location") != page {
		t.Fatalf("Enable: %d %s %.300s", status, hdr.Get("Location"), body)
	}

	// The action waits for the read models before it redirects: the next page shows its effect.
	_, _, after := cc.do(http.MethodGet, page, nil)
	if !strings.Contains(after, "Webhook enabled.") {
		t.Errorf("the page after Enable does not say it was enabled")
	}
	panel = endpointHealthPanel(t, after)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`<dt>circuit</dt><dd><span class="circuit closed">closed</span>`),
		regexp.MustCompile(`<dt>consecutive failures</dt><dd[^>]*>0</dd>`),
		regexp.MustCompile(`<dt>failing since</dt><dd><span class="muted">not failing</span></dd>`),
	} {
		if !want.MatchString(panel) {
			t.Errorf("after Enable, the endpoint panel does not match %s:\n%s", want, panel)
		}
	}
	if strings.Contains(panel, "disabled by hookd") {
		t.Errorf("after Enable, the endpoint panel still says hookd disabled it:\n%s", panel)
	}
	disabled, health := apiHealth(h, scope, w.ID)
	if disabled || health.RecentAttempts != 0 || health.RecentFailures != 0 || health.ConsecutiveFailures != 0 ||
		health.FailingSince != nil || health.LastFailureAt != nil || health.Circuit.State != "closed" || health.DisabledReason != "" {
		t.Errorf("after Enable in the console: disabled %v, health %+v; want it reset", disabled, health)
	}
}

var endpointHealthSection = regexp.MustCompile(`(?s)<section[^>]*id="endpoint-health".*?</section>`)

// endpointHealthPanel returns the endpoint health section of a webhook's console page.
func endpointHealthPanel(t *testing.T, page string) string {
	t.Helper()
	panel := endpointHealthSection.FindString(page)
	if panel == "" {
		t.Fatalf("the page has no endpoint health panel:\n%.2000s", page)
	}
	return panel
}

// loadWebhook rebuilds a webhook from l's log.
func loadWebhook(t *testing.T, l *testLog, id string) *webhook.Webhook {
	t.Helper()
	records, err := l.n.store.ReadStream(context.Background(), webhook.Stream(id), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	history := make([]webhook.Event, len(records))
	for i, r := range records {
		e, err := l.n.codec.Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		history[i] = e.(webhook.Event)
	}
	w, err := webhook.Rehydrate(history, int64(len(records))-1)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// appendWebhook writes what the webhook recorded since it was loaded, with hookd as its actor, as
// the delivery pipeline does.
func appendWebhook(t *testing.T, l *testLog, w *webhook.Webhook) {
	t.Helper()
	stream := webhook.Stream(w.ID())
	data := make([]eventlog.EventData, len(w.Changes()))
	for i, e := range w.Changes() {
		var err error
		data[i], err = l.n.codec.Encode(stream, eventlog.EventID(uuid.New()), e,
			eventlog.Metadata{Actor: command.SystemActor, OccurredAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.n.store.Append(context.Background(), stream, eventlog.After(w.Version()), data); err != nil {
		t.Fatal(err)
	}
}
