package webhook_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

var rotatedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	secretB = "second-raw-secret"
	secretC = "third-raw-secret"
)

func checkValidSecrets(t *testing.T, w *webhook.Webhook, at time.Time, want ...string) {
	t.Helper()
	if got := w.ValidSecrets(at); !slices.Equal(got, want) {
		t.Errorf("ValidSecrets(%s) = %q, want %q", at.Format(time.RFC3339), got, want)
	}
}

func TestRotateSecretKeepsThePreviousForTheGracePeriod(t *testing.T) {
	t.Parallel()
	w := mustCreate(t, validCreation())
	checkValidSecrets(t, w, rotatedAt, secret32)

	mustDo(t, w.RotateSecret(secretB, time.Hour, rotatedAt))
	checkChanges(t, w, webhook.EventCreated, webhook.EventSecretRotated)
	want := webhook.SecretRotated{
		WebhookID: w.ID(), Secret: secretB, PreviousSecret: secret32, PreviousExpiresAt: rotatedAt.Add(time.Hour),
	}
	if got := w.Changes()[1]; !reflect.DeepEqual(got, want) {
		t.Errorf("SecretRotated = %#v\nwant             %#v", got, want)
	}
	if w.Secret() != secretB {
		t.Errorf("Secret() = %q, want the new one", w.Secret())
	}
	checkValidSecrets(t, w, rotatedAt, secretB, secret32)
	checkValidSecrets(t, w, rotatedAt.Add(time.Hour-time.Nanosecond), secretB, secret32)
	checkValidSecrets(t, w, rotatedAt.Add(time.Hour), secretB) // the expiry is the first instant it is invalid
	checkValidSecrets(t, w, rotatedAt.Add(48*time.Hour), secretB)
}

func TestRotateSecretWithoutGrace(t *testing.T) {
	t.Parallel()
	w := mustCreate(t, validCreation())
	mustDo(t, w.RotateSecret(secretB, 0, rotatedAt))
	checkValidSecrets(t, w, rotatedAt, secretB)
}

// A second rotation inside the grace period of the first keeps only the secret it replaces: the
// first secret stops being valid at once.
func TestRotateSecretTwiceKeepsOnlyOnePrevious(t *testing.T) {
	t.Parallel()
	w := mustCreate(t, validCreation())
	mustDo(t, w.RotateSecret(secretB, 24*time.Hour, rotatedAt))
	second := rotatedAt.Add(10 * time.Minute)
	mustDo(t, w.RotateSecret(secretC, time.Hour, second))
	checkChanges(t, w, webhook.EventCreated, webhook.EventSecretRotated, webhook.EventSecretRotated)
	if got := w.Changes()[2].(webhook.SecretRotated); got.PreviousSecret != secretB || !got.PreviousExpiresAt.Equal(second.Add(time.Hour)) {
		t.Errorf("second rotation recorded previous %q until %v, want %q until %v", got.PreviousSecret, got.PreviousExpiresAt, secretB, second.Add(time.Hour))
	}
	checkValidSecrets(t, w, second, secretC, secretB)
	checkValidSecrets(t, w, second.Add(time.Hour), secretC)

	// Back to a secret of before is a rotation like any other.
	mustDo(t, w.RotateSecret(secret32, time.Hour, second.Add(2*time.Hour)))
	checkValidSecrets(t, w, second.Add(2*time.Hour), secret32, secretC)
}

// The expiry is kept in UTC and without the monotonic reading, as the log gives it back: the event
// the aggregate records equals the one decoded from the log.
func TestRotateSecretRecordsALoggableTime(t *testing.T) {
	t.Parallel()
	for _, now := range []time.Time{
		time.Now(), // with a monotonic reading
		rotatedAt.In(time.FixedZone("UTC+2", 2*60*60)),
	} {
		w := mustCreate(t, validCreation())
		mustDo(t, w.RotateSecret(secretB, time.Minute, now))
		got := w.Changes()[1].(webhook.SecretRotated).PreviousExpiresAt
		if got.Location() != time.UTC || got != got.Round(0) || !got.Equal(now.Add(time.Minute)) {
			t.Errorf("expiry %v (location %v): want %v in UTC without a monotonic reading", got, got.Location(), now.Add(time.Minute))
		}
	}
}

func TestRotateSecretValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret string
		grace  time.Duration
		want   []string
	}{
		{"the longest grace", secretB, webhook.MaxSecretGracePeriod, nil},
		{"a whsec_ secret", strings.Replace(secret32, "AAAA", "BBBB", 1), time.Hour, nil},
		{"empty secret", "", time.Hour, []string{"secret"}},
		{"short secret", "short", time.Hour, []string{"secret"}},
		{"secret with a newline", "abcdefgh\n", time.Hour, []string{"secret"}},
		{"the current secret", secret32, time.Hour, []string{"secret"}},
		{"negative grace", secretB, -time.Second, []string{"gracePeriodSeconds"}},
		{"grace over a week", secretB, webhook.MaxSecretGracePeriod + time.Second, []string{"gracePeriodSeconds"}},
		{"both wrong", "x", -1, []string{"secret", "gracePeriodSeconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := mustCreate(t, validCreation())
			err := w.RotateSecret(tt.secret, tt.grace, rotatedAt)
			checkProblems(t, err, tt.want)
			if err != nil {
				checkChanges(t, w, webhook.EventCreated)
				if w.Secret() != secret32 {
					t.Errorf("a refused rotation changed the secret to %q", w.Secret())
				}
			}
		})
	}
}

func TestRotateSecretOfADeletedWebhook(t *testing.T) {
	t.Parallel()
	w := mustCreate(t, validCreation())
	mustDo(t, w.Delete())
	if err := w.RotateSecret(secretB, time.Hour, rotatedAt); !errors.Is(err, webhook.ErrDeleted) {
		t.Fatalf("RotateSecret after Delete = %v, want ErrDeleted", err)
	}
	checkChanges(t, w, webhook.EventCreated, webhook.EventDeleted)
	checkValidSecrets(t, w, rotatedAt, secret32)
}

func TestRehydrateAfterRotations(t *testing.T) {
	t.Parallel()
	live := mustCreate(t, validCreation())
	mustDo(t, live.RotateSecret(secretB, time.Hour, rotatedAt))
	mustDo(t, live.Disable())
	mustDo(t, live.RotateSecret(secretC, 2*time.Hour, rotatedAt.Add(time.Minute)))
	re, err := webhook.Rehydrate(live.Changes(), int64(len(live.Changes())-1))
	if err != nil {
		t.Fatal(err)
	}
	if re.Secret() != secretC || !re.Disabled() {
		t.Errorf("rehydrated secret %q disabled %t, want %q true", re.Secret(), re.Disabled(), secretC)
	}
	for _, at := range []time.Time{rotatedAt, rotatedAt.Add(90 * time.Minute), rotatedAt.Add(3 * time.Hour)} {
		if got, want := re.ValidSecrets(at), live.ValidSecrets(at); !slices.Equal(got, want) {
			t.Errorf("at %v: rehydrated ValidSecrets %q, live %q", at, got, want)
		}
	}
	checkValidSecrets(t, re, rotatedAt.Add(90*time.Minute), secretC, secretB)
	checkChanges(t, re)
}

func TestSecretsValidAt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		previous string
		expires  time.Time
		want     []string
	}{
		{"never rotated", "", time.Time{}, []string{"cur"}},
		{"in the grace period", "prev", rotatedAt.Add(time.Second), []string{"cur", "prev"}},
		{"at the expiry", "prev", rotatedAt, []string{"cur"}},
		{"after the expiry", "prev", rotatedAt.Add(-time.Second), []string{"cur"}},
	}
	for _, tt := range tests {
		if got := webhook.SecretsValidAt("cur", tt.previous, tt.expires, rotatedAt); !slices.Equal(got, tt.want) {
			t.Errorf("%s: SecretsValidAt = %q, want %q", tt.name, got, tt.want)
		}
	}
}
