package webhookview_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// A rotation keeps the new secret and the previous one sealed, with the previous one's expiry, and
// a second rotation keeps only the secret it replaced.
func TestRotationKeepsThePreviousSecretSealedUntilItExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	id := f.create("t1", "c1")
	f.flush()
	created, err := f.view.Get(ctx, "t1", "c1", id)
	if err != nil {
		t.Fatal(err)
	}
	if got := created.ValidSecrets(f.clock); !slices.Equal(got, []string{created.Secret}) || created.PreviousSecret != "" {
		t.Errorf("before any rotation: ValidSecrets %q, previous %q; want the secret alone", got, created.PreviousSecret)
	}

	first := f.clock
	f.do(id, func(w *webhook.Webhook) error { return w.RotateSecret("second-secret", time.Hour, first) })
	f.flush()
	rotated, err := f.view.Get(ctx, "t1", "c1", id)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Secret != "sealed:second-secret" || rotated.PreviousSecret != created.Secret ||
		!rotated.PreviousSecretExpiresAt.Equal(first.Add(time.Hour)) {
		t.Errorf("after a rotation: secret %q, previous %q until %v; want sealed:second-secret, %q until %v",
			rotated.Secret, rotated.PreviousSecret, rotated.PreviousSecretExpiresAt, created.Secret, first.Add(time.Hour))
	}
	if rotated.Version != 1 || !rotated.UpdatedAt.After(created.UpdatedAt) || !rotated.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("after a rotation: version %d, updated %v (was %v), created %v (was %v)",
			rotated.Version, rotated.UpdatedAt, created.UpdatedAt, rotated.CreatedAt, created.CreatedAt)
	}
	if got := rotated.ValidSecrets(first.Add(59 * time.Minute)); !slices.Equal(got, []string{"sealed:second-secret", created.Secret}) {
		t.Errorf("ValidSecrets in the grace period = %q", got)
	}
	if got := rotated.ValidSecrets(first.Add(time.Hour)); !slices.Equal(got, []string{"sealed:second-secret"}) {
		t.Errorf("ValidSecrets at the end of the grace period = %q", got)
	}
	if rotated.Settings.Name != created.Settings.Name || rotated.Disabled != created.Disabled {
		t.Errorf("a rotation changed more than the secrets: %+v", rotated)
	}

	second := first.Add(10 * time.Minute)
	f.do(id, func(w *webhook.Webhook) error { return w.RotateSecret("third-secret", 2*time.Hour, second) })
	f.flush()
	again, err := f.view.Get(ctx, "t1", "c1", id)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.ValidSecrets(second); !slices.Equal(got, []string{"sealed:third-secret", "sealed:second-secret"}) {
		t.Errorf("ValidSecrets after a second rotation = %q, want the third and the second secret alone", got)
	}
	if !again.PreviousSecretExpiresAt.Equal(second.Add(2 * time.Hour)) {
		t.Errorf("previous secret expires at %v, want %v", again.PreviousSecretExpiresAt, second.Add(2*time.Hour))
	}
}
