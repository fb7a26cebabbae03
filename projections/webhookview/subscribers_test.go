package webhookview_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/hookd/hookd/domain/webhook"
)

// subscribers flushes what is queued and returns the ids Subscribers answers, in order.
func (f *fixture) subscribers(tenant, community, event string) []string {
	f.t.Helper()
	f.flush()
	items, err := f.view.Subscribers(context.Background(), tenant, community, event)
	if err != nil {
		f.t.Fatal(err)
	}
	if items == nil {
		f.t.Fatalf("Subscribers(%s, %s, %s) = nil, want a list", tenant, community, event)
	}
	return ids(items)
}

// listening creates a webhook of t1/c1 that subscribes to events.
func (f *fixture) listening(disabled bool, events ...string) string {
	f.t.Helper()
	s := settings()
	s.EventNames = events
	return f.createWith(webhook.Creation{TenantID: "t1", CommunityID: "c1", Settings: s, Disabled: disabled})
}

func (f *fixture) listenTo(id string, events ...string) {
	f.t.Helper()
	f.do(id, func(w *webhook.Webhook) error {
		s := w.Settings()
		s.EventNames = events
		return w.Update(s)
	})
}

// wantSubscribers checks the subscribers of each event name of t1/c1.
func wantSubscribers(t *testing.T, f *fixture, step string, want map[string][]string) {
	t.Helper()
	for _, event := range slices.Sorted(func(yield func(string) bool) {
		for e := range want {
			if !yield(e) {
				return
			}
		}
	}) {
		if got := f.subscribers("t1", "c1", event); !slices.Equal(got, want[event]) && len(got)+len(want[event]) > 0 {
			t.Errorf("%s: subscribers of %s = %v, want %v", step, event, got, want[event])
		}
	}
}

func TestSubscribersFollowTheLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.listening(false, "E1", "E2")
	b := f.listening(false, "E1")
	c := f.listening(false, "E2", "E2") // a name listed twice subscribes once
	d := f.listening(true, "E1")        // created disabled
	wantSubscribers(t, f, "created", map[string][]string{"E1": {a, b}, "E2": {a, c}, "E3": nil, "e1": nil})

	f.do(b, (*webhook.Webhook).Disable)
	wantSubscribers(t, f, "b disabled", map[string][]string{"E1": {a}, "E2": {a, c}})
	f.do(b, (*webhook.Webhook).Enable)
	f.do(d, (*webhook.Webhook).Enable)
	wantSubscribers(t, f, "b and d enabled", map[string][]string{"E1": {a, b, d}, "E2": {a, c}}) // creation order

	f.listenTo(a, "E2", "E3")
	wantSubscribers(t, f, "a moved from E1 to E3", map[string][]string{"E1": {b, d}, "E2": {a, c}, "E3": {a}})

	// Event names changed while disabled take effect when the webhook is enabled again.
	f.do(b, (*webhook.Webhook).Disable)
	f.listenTo(b, "E3")
	wantSubscribers(t, f, "b disabled, then moved to E3", map[string][]string{"E1": {d}, "E3": {a}})
	f.do(b, (*webhook.Webhook).Enable)
	wantSubscribers(t, f, "b enabled on E3", map[string][]string{"E1": {d}, "E3": {a, b}})

	// Changes that are not about event names or being enabled leave the subscribers as they were.
	f.retag(a, "blue")
	f.do(a, func(w *webhook.Webhook) error { return w.RotateSecret("a-rotated-secret", 0, f.clock) })
	wantSubscribers(t, f, "a retagged and its secret rotated", map[string][]string{"E2": {a, c}, "E3": {a, b}})

	f.do(a, (*webhook.Webhook).Delete)
	f.do(d, (*webhook.Webhook).Disable)
	f.do(d, (*webhook.Webhook).Delete) // deleted while disabled
	wantSubscribers(t, f, "a and d deleted", map[string][]string{"E1": nil, "E2": {c}, "E3": {b}})
}

// Every change in one batch, as a rebuild applies them, ends in the same subscribers as one batch per
// change.
func TestSubscribersFromOneBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.listening(false, "E1", "E2")
	b := f.listening(true, "E1")
	f.listenTo(a, "E2")
	f.do(b, (*webhook.Webhook).Enable)
	f.listenTo(b, "E1", "E2")
	c := f.listening(false, "E2")
	f.do(c, (*webhook.Webhook).Delete)
	wantSubscribers(t, f, "one batch", map[string][]string{"E1": {b}, "E2": {a, b}})
}

func TestSubscribersKeepScopesApart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := settings()
	s.EventNames = []string{"E1"}
	ids := map[[2]string]string{}
	for _, scope := range [][2]string{{"t1", "c1"}, {"t1", "c2"}, {"t2", "c1"}, {"t1.c", "1"}} {
		ids[scope] = f.createWith(webhook.Creation{TenantID: scope[0], CommunityID: scope[1], Settings: s})
	}
	for scope, id := range ids {
		if got := f.subscribers(scope[0], scope[1], "E1"); !slices.Equal(got, []string{id}) {
			t.Errorf("subscribers in %s/%s = %v, want [%s]", scope[0], scope[1], got, id)
		}
	}
	if got := f.subscribers("t2", "c2", "E1"); len(got) != 0 {
		t.Errorf("subscribers in a scope without webhooks = %v", got)
	}
}

// Subscribers answers the webhooks as Get does, and what it returns is the caller's to change.
func TestSubscribersAnswerTheWebhooksAsGetDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	id := f.listening(false, "E1")
	f.flush()
	got, err := f.view.Subscribers(ctx, "t1", "c1", "E1")
	if err != nil || len(got) != 1 {
		t.Fatalf("Subscribers = %v, %v", got, err)
	}
	want, err := f.view.Get(ctx, "t1", "c1", id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("Subscribers answered\n%+v\nGet answers\n%+v", got[0], want)
	}
	got[0].Settings.EventNames[0] = "changed"
	again, err := f.view.Subscribers(ctx, "t1", "c1", "E1")
	if err != nil || len(again) != 1 || again[0].Settings.EventNames[0] != "E1" {
		t.Fatalf("a caller's change reached the view: %+v, %v", again, err)
	}
}

func TestSubscribersAfterApplyingABatchAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.listening(false, "E1")
	b := f.listening(false, "E1")
	f.do(a, (*webhook.Webhook).Disable)
	f.listenTo(b, "E2")
	events := f.flush()
	f.apply(events)
	wantSubscribers(t, f, "applied twice", map[string][]string{"E1": nil, "E2": {b}})
}
