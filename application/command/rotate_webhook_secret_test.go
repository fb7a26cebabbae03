package command_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/webhook"
)

func (f *fixture) rotate(w *webhook.Webhook, secret string, grace time.Duration) (*webhook.Webhook, command.Result, error) {
	return f.webhooks.RotateSecret(context.Background(), command.RotateWebhookSecret{
		TenantID: "t1", CommunityID: "c1", WebhookID: w.ID(), Secret: secret, GracePeriod: grace,
	}, caller())
}

func TestRotateSecretGeneratesOneAndKeepsThePreviousValid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	before := time.Now()
	rotated, res, err := f.rotate(w, "", time.Hour)
	after := time.Now()
	if err != nil || !res.Changed {
		t.Fatalf("rotate: %v, %+v", err, res)
	}
	if rotated.Secret() != "generated-secret-2" {
		t.Fatalf("secret %q after the rotation, want a newly generated one", rotated.Secret())
	}
	// The previous secret is valid for the grace period, counted from the command's clock.
	if got := rotated.ValidSecrets(after); !slices.Equal(got, []string{"generated-secret-2", w.Secret()}) {
		t.Errorf("ValidSecrets right after = %q, want the new one then the previous", got)
	}
	if got := rotated.ValidSecrets(before.Add(time.Hour)); len(got) != 2 {
		t.Errorf("ValidSecrets before the grace period can have ended = %q, want both", got)
	}
	if got := rotated.ValidSecrets(after.Add(time.Hour)); !slices.Equal(got, []string{"generated-secret-2"}) {
		t.Errorf("ValidSecrets after the grace period = %q, want the new one alone", got)
	}

	// Neither secret is in the log in plain text.
	records, err := f.store.ReadStream(context.Background(), webhook.Stream(w.ID()), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 2 || records[1].Type != webhook.EventSecretRotated {
		t.Fatalf("stream holds %d records, the last %q; want WebhookCreated, WebhookSecretRotated", len(records), records[len(records)-1].Type)
	}
	for _, secret := range []string{w.Secret(), rotated.Secret()} {
		if bytes.Contains(records[1].Data, []byte(secret)) {
			t.Errorf("the rotation's record holds %q in plain text: %s", secret, records[1].Data)
		}
	}
}

// A second rotation loads the first from the log: the secret it replaces is the one the first rotation
// made, and the webhook's first secret is valid no more.
func TestRotateSecretTwiceKeepsTheSecretItReplaces(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	const given = "a-given-secret-of-the-integrator"
	if _, _, err := f.rotate(w, given, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	second, _, err := f.rotate(w, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.ValidSecrets(time.Now()); !slices.Equal(got, []string{second.Secret(), given}) {
		t.Errorf("ValidSecrets after two rotations = %q, want [%s %s]", got, second.Secret(), given)
	}
}

func TestRotateSecretRefusesBadInputAndWritesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.create(t)
	for _, c := range []struct {
		name   string
		secret string
		grace  time.Duration
		field  string
	}{
		{"short secret", "short", time.Hour, "secret"},
		{"the current secret", w.Secret(), time.Hour, "secret"},
		{"grace over a week", "", webhook.MaxSecretGracePeriod + time.Second, "gracePeriodSeconds"},
		{"negative grace", "", -time.Second, "gracePeriodSeconds"},
	} {
		_, res, err := f.rotate(w, c.secret, c.grace)
		var v *webhook.ValidationError
		if !errors.As(err, &v) || len(v.Problems) != 1 || v.Problems[0].Field != c.field || res.Changed {
			t.Errorf("%s: %v, %+v; want one problem with %s and no change", c.name, err, res, c.field)
		}
	}
	if n := f.streamLength(t, webhook.Stream(w.ID())); n != 1 {
		t.Fatalf("stream holds %d events after refused rotations, want 1", n)
	}
}

func TestRotateSecretOfAnotherScopeOrADeletedWebhookIsNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	w := f.create(t)
	for _, scope := range [][2]string{{"t2", "c1"}, {"t1", "c2"}} {
		_, _, err := f.webhooks.RotateSecret(ctx, command.RotateWebhookSecret{TenantID: scope[0], CommunityID: scope[1],
			WebhookID: w.ID(), GracePeriod: time.Hour}, caller())
		if !errors.Is(err, webhook.ErrNotFound) {
			t.Errorf("rotate in %v: %v, want not found", scope, err)
		}
	}
	if _, err := f.webhooks.Delete(ctx, command.DeleteWebhook{TenantID: "t1", CommunityID: "c1", WebhookID: w.ID()}, caller()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.rotate(w, "", time.Hour); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("rotate after delete: %v, want not found", err)
	}
	if n := f.streamLength(t, webhook.Stream(w.ID())); n != 2 {
		t.Fatalf("stream holds %d events, want created and deleted", n)
	}
}
