package webhook_test

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// Folding attempts in two parts and joining them with Then gives what folding them in one does,
// wherever the split falls: the carried health followed by the attempts folded apart since its
// marker is the health of every attempt.
func TestThenJoinsTwoFoldsAsOne(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		n := rng.IntN(2 * webhook.MaxRecent)
		okRate := []float64{0, 0.1, 0.5, 0.95, 1}[round%5]
		outcomes := make([]bool, n)
		for i := range outcomes {
			outcomes[i] = rng.Float64() < okRate
		}
		at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
		fold := func(from webhook.Health, lo, hi int) webhook.Health {
			for i := lo; i < hi; i++ {
				from = from.Record(at(i), outcomes[i])
			}
			return from
		}
		whole := fold(webhook.Health{}, 0, n)
		split := rng.IntN(n + 1)
		joined := fold(webhook.Health{}, 0, split).Then(fold(webhook.Health{}, split, n))
		if len(whole.Recent) == 0 {
			whole.Recent = nil
		}
		if len(joined.Recent) == 0 {
			joined.Recent = nil
		}
		if !reflect.DeepEqual(whole, joined) {
			t.Fatalf("%d outcomes %v split at %d:\nwhole  %+v\njoined %+v", n, outcomes, split, whole, joined)
		}
	}
}

// Then keeps the circuit and the disable reason of the health it starts from: they come from the
// webhook's own events, never from the attempts.
func TestThenKeepsTheCircuitAndReason(t *testing.T) {
	t.Parallel()
	h := webhook.Health{Circuit: webhook.Circuit{Open: true, Until: t0}, DisabledReason: webhook.DisabledGone}
	next := webhook.Health{Circuit: webhook.Circuit{ClosedAt: t0}}.Record(t0, false)
	got := h.Then(next)
	if got.Circuit != h.Circuit || got.DisabledReason != webhook.DisabledGone || got.ConsecutiveFailures != 1 {
		t.Fatalf("Then = %+v", got)
	}
	if a := got.Attempts(); a.Circuit != (webhook.Circuit{}) || a.DisabledReason != "" || a.ConsecutiveFailures != 1 {
		t.Fatalf("Attempts = %+v", a)
	}
}
