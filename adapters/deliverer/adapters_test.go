package deliverer_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/deliverer"
	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/readmodeltest"
	"github.com/hookd/hookd/projections/webhookview"
)

// countingLog counts the reads of the log under a real embedded store.
type countingLog struct {
	*sqlitestore.Store
	reads int
}

func (l *countingLog) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventlog.RecordedEvent, error) {
	l.reads++
	return l.Store.ReadStream(ctx, stream, from, max)
}

// TestDeliveriesKeepsWhatItSavedWhileScheduled: a delivery scheduled or saved still scheduled is
// loaded from memory; one finished, or whose save failed, is read from the log again.
func TestDeliveriesKeepsWhatItSavedWhileScheduled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	log := &countingLog{Store: store}
	inner, err := command.NewDeliveries(log, readmodeltest.Codec(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	c := deliverer.NewDeliveries(inner, eventlog.Start)
	policy := delivery.Policy{SuccessCodes: []int{200}, RetryCodes: []int{503}, RetryCount: 2}
	scheduling := delivery.Scheduling{
		EventID: "e1", WebhookID: "w1", TenantID: "t1", CommunityID: "c1", EventName: "E", Body: `{}`,
		Settings: delivery.Snapshot{API: webhook.Endpoint{URL: "https://receiver.example", AuthType: webhook.AuthNone}, Policy: policy}, At: time.Now(),
	}
	// The dispatcher's caller: the same request for the same event, so scheduling again repeats.
	dispatcher := command.Caller{Actor: "test-dispatcher", RequestID: "e1"}
	d, _, err := c.Schedule(ctx, scheduling, dispatcher)
	if err != nil {
		t.Fatal(err)
	}
	attempt := func(status int) *delivery.Delivery {
		t.Helper()
		got, err := c.Load(ctx, d.ID())
		if err != nil {
			t.Fatal(err)
		}
		if err := got.RecordAttempt(delivery.Attempt{Number: got.Attempts() + 1, Status: status, At: time.Now()}, policy, delivery.Backoff{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Save(ctx, got, command.Caller{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	// A delivery handed out again while an attempt holds it (natstransport does) gets its own copy:
	// two attempts never share one aggregate.
	first, err := c.Load(ctx, d.ID())
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Load(ctx, d.ID())
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatal("two Loads while neither saved handed out the same delivery")
	}
	if _, err := c.Save(ctx, first, command.Caller{Actor: "test"}); err != nil { // nothing recorded: keeps it again
		t.Fatal(err)
	}
	before := log.reads
	attempt(503) // loads what Save kept
	attempt(503) // and again
	if log.reads != before {
		t.Fatalf("%d reads of the log for a delivery this process scheduled and saved, want none", log.reads-before)
	}
	attempt(200)
	got, err := c.Load(ctx, d.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.Status() != delivery.StatusSucceeded || log.reads != before+1 {
		t.Fatalf("a finished delivery: %v after %d reads, want it succeeded, read from the log once", got.Status(), log.reads-before)
	}

	// A later process dispatching the same event again is answered as a repeat of the first
	// append, with the delivery as built anew: it must not keep that copy, which the log has
	// since seen succeed.
	head, err := store.LastPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	later := deliverer.NewDeliveries(inner, head)
	if again, _, err := later.Schedule(ctx, scheduling, dispatcher); err != nil || again == nil {
		t.Fatalf("scheduling again: %v, %v; want the first append's answer", again, err)
	}
	if got, err := later.Load(ctx, d.ID()); err != nil || got.Status() != delivery.StatusSucceeded {
		t.Fatalf("after scheduling again, Load: %v, %v; want the delivery as the log has it, succeeded", got.Status(), err)
	}
}

// webhooks answers one webhook, counting the reads.
type webhooks struct {
	w     webhookview.Webhook
	err   error
	reads int
}

func (r *webhooks) Get(context.Context, string, string, string) (webhookview.Webhook, error) {
	r.reads++
	return r.w, r.err
}

type opener struct{}

func (opener) OpenSecret(sealed, _ string) (string, error) {
	if sealed == "damaged" {
		return "", errors.New("does not open")
	}
	return "open:" + sealed, nil
}

// TestTargetsReadAWebhookOncePerSecond: a webhook read is used for a second, "not found"
// included; a read error is not kept; secrets open on demand.
func TestTargetsReadAWebhookOncePerSecond(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	r := &webhooks{w: webhookview.Webhook{ID: "w1", Secret: "s1", Settings: webhook.Settings{RateLimit: 5}}}
	targets := deliverer.NewTargets(r, opener{})

	for _, at := range []time.Duration{0, 500 * time.Millisecond, 999 * time.Millisecond} {
		w, err := targets.Webhook(ctx, "t1", "c1", "w1", now.Add(at))
		if err != nil || w.RateLimit != 5 {
			t.Fatalf("Webhook = %+v, %v", w, err)
		}
		if secrets, err := w.Secrets(); err != nil || len(secrets) != 1 || secrets[0] != "open:s1" {
			t.Fatalf("Secrets = %v, %v; want the opened secret", secrets, err)
		}
	}
	if r.reads != 1 {
		t.Fatalf("%d reads within a second, want 1", r.reads)
	}
	r.w.Disabled = true
	if w, _ := targets.Webhook(ctx, "t1", "c1", "w1", now.Add(time.Second)); !w.Disabled || r.reads != 2 {
		t.Fatalf("a second later: disabled %v after %d reads, want the change read", w.Disabled, r.reads)
	}

	r.err = webhook.ErrNotFound
	for range 2 {
		if _, err := targets.Webhook(ctx, "t1", "c1", "w1", now.Add(2*time.Second)); !errors.Is(err, webhook.ErrNotFound) {
			t.Fatalf("Webhook = %v, want not found", err)
		}
	}
	if r.reads != 3 {
		t.Fatalf("%d reads, want not found kept too", r.reads)
	}
	r.err = errors.New("the read model is down")
	for range 2 {
		if _, err := targets.Webhook(ctx, "t1", "c1", "w2", now); !errors.Is(err, r.err) {
			t.Fatalf("Webhook = %v, want the read's error", err)
		}
	}
	if r.reads != 5 {
		t.Fatalf("%d reads, want a failed read not kept", r.reads)
	}

	r.err, r.w = nil, webhookview.Webhook{ID: "w3", Secret: "damaged"}
	w, err := targets.Webhook(ctx, "t1", "c1", "w3", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Secrets(); err == nil {
		t.Fatal("Secrets of a damaged secret returned no error")
	}
}
