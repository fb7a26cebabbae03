package delivery_test

import (
	"math"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	p := delivery.Policy{SuccessCodes: []int{200, 202}, RetryCodes: []int{0, 429, 503}}
	tests := []struct {
		status int
		want   delivery.Verdict
	}{
		{200, delivery.Succeed}, {202, delivery.Succeed},
		{0, delivery.Retry}, {429, delivery.Retry}, {503, delivery.Retry},
		{201, delivery.Fail}, {301, delivery.Fail}, {302, delivery.Fail}, {400, delivery.Fail}, {500, delivery.Fail},
	}
	for _, tt := range tests {
		if got := p.Judge(tt.status); got != tt.want {
			t.Errorf("Judge(%d) = %v, want %v", tt.status, got, tt.want)
		}
	}
	noResponseNotRetried := delivery.Policy{SuccessCodes: []int{200}, RetryCodes: []int{503}}
	if got := noResponseNotRetried.Judge(0); got != delivery.Fail {
		t.Errorf("Judge(0) without 0 in retryCodes = %v, want fail", got)
	}
	// 0 is never a success, even if a hand-made policy lists it.
	odd := delivery.Policy{SuccessCodes: []int{0, 200}}
	if got := odd.Judge(0); got != delivery.Fail {
		t.Errorf("Judge(0) with 0 in successCodes = %v, want fail", got)
	}
	if got := (delivery.Policy{SuccessCodes: []int{302}}).Judge(302); got != delivery.Succeed {
		t.Errorf("a 3xx listed as success = %v, want succeed", got)
	}
}

func fixed(r float64) func() float64 { return func() float64 { return r } }

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		b     delivery.Backoff
		retry int
		want  time.Duration
	}{
		{"default first, no random", delivery.Backoff{}, 1, time.Second},
		{"default second", delivery.Backoff{}, 2, 5 * time.Second},
		{"default later retries keep the last", delivery.Backoff{}, 7, 5 * time.Second},
		{"retry 0 counts as the first", delivery.Backoff{}, 0, time.Second},
		{"jitter low end", delivery.Backoff{Jitter: delivery.DefaultJitter, Random: fixed(0)}, 1, 800 * time.Millisecond},
		{"jitter midpoint", delivery.Backoff{Jitter: delivery.DefaultJitter, Random: fixed(0.5)}, 2, 5 * time.Second},
		{"jitter high end", delivery.Backoff{Jitter: delivery.DefaultJitter, Random: fixed(0.75)}, 2, 5500 * time.Millisecond},
		{"configured delays", delivery.Backoff{Delays: []time.Duration{time.Minute}}, 2, time.Minute},
		{"jitter over 1 is 1", delivery.Backoff{Jitter: 3, Random: fixed(0)}, 1, 0},
		{"negative jitter is 0", delivery.Backoff{Jitter: -1, Random: fixed(0)}, 1, time.Second},
		{"NaN jitter is 0", delivery.Backoff{Jitter: math.NaN(), Random: fixed(0)}, 1, time.Second},
		{"random over 1 is 1", delivery.Backoff{Jitter: 0.5, Random: fixed(9)}, 1, 1500 * time.Millisecond},
		{"NaN random is the midpoint", delivery.Backoff{Jitter: 0.5, Random: fixed(math.NaN())}, 1, time.Second},
		{"negative delay is 0", delivery.Backoff{Delays: []time.Duration{-time.Second}}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.b.Delay(tt.retry); got != tt.want {
				t.Errorf("Delay(%d) = %v, want %v", tt.retry, got, tt.want)
			}
		})
	}
}

func TestBackoffJitterStaysInRange(t *testing.T) {
	t.Parallel()
	for i := range 100 {
		r := float64(i) / 100
		b := delivery.Backoff{Jitter: delivery.DefaultJitter, Random: fixed(r)}
		if d := b.Delay(1); d < 800*time.Millisecond || d >= 1200*time.Millisecond {
			t.Errorf("Delay(1) with random %v = %v, want [0.8s, 1.2s)", r, d)
		}
		if d := b.Delay(2); d < 4*time.Second || d >= 6*time.Second {
			t.Errorf("Delay(2) with random %v = %v, want [4s, 6s)", r, d)
		}
	}
}

func TestEnums(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"scheduled", "succeeded", "failed"} {
		st, err := delivery.ParseStatus(s)
		if err != nil || st.String() != s {
			t.Errorf("ParseStatus(%q) = %v, %v", s, st, err)
		}
	}
	for _, s := range []string{"", "Failed", "parked"} {
		if _, err := delivery.ParseStatus(s); err == nil {
			t.Errorf("ParseStatus(%q) succeeded", s)
		}
	}
	for _, s := range []string{"current", "original"} {
		var m delivery.ReplayMode
		if err := m.UnmarshalText([]byte(s)); err != nil || m.String() != s {
			t.Errorf("UnmarshalText(%q) = %v, %v", s, m, err)
		}
		text, _ := m.MarshalText()
		if string(text) != s {
			t.Errorf("MarshalText = %q, want %q", text, s)
		}
	}
	var m delivery.ReplayMode
	if err := m.UnmarshalText([]byte("latest")); err == nil || !m.IsZero() {
		t.Errorf("UnmarshalText(latest) = %v, mode %v", err, m)
	}
	if !delivery.StatusSucceeded.Finished() || !delivery.StatusFailed.Finished() || delivery.StatusScheduled.Finished() {
		t.Error("Finished is wrong")
	}
}
