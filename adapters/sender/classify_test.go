package sender

import (
	"testing"

	"github.com/hookd/hookd/domain/delivery"
	"github.com/hookd/hookd/domain/webhook"
)

// verdict judges an outcome as the deliverer does: by the webhook's delivery policy, an unsendable
// outcome failing at once.
func verdict(o Outcome, s webhook.Settings) delivery.Verdict {
	return delivery.PolicyOf(s).JudgeAttempt(delivery.Attempt{Status: o.Status, Unsendable: o.Unsendable()})
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	withZero := webhook.Settings{SuccessCodes: []int{200, 204}, RetryCodes: []int{0, 429, 503}}
	withoutZero := webhook.Settings{SuccessCodes: []int{200}, RetryCodes: []int{500}}
	tests := []struct {
		name     string
		outcome  Outcome
		settings webhook.Settings
		want     delivery.Verdict
	}{
		{"success code", Outcome{Status: 200}, withZero, delivery.Succeed},
		{"other success code", Outcome{Status: 204}, withZero, delivery.Succeed},
		{"2xx not listed fails", Outcome{Status: 201}, withZero, delivery.Fail},
		{"retry code", Outcome{Status: 503}, withZero, delivery.Retry},
		{"retry code 429", Outcome{Status: 429}, withZero, delivery.Retry},
		{"unlisted 5xx fails", Outcome{Status: 502}, withZero, delivery.Fail},
		{"4xx fails", Outcome{Status: 404}, withZero, delivery.Fail},
		{"3xx fails", Outcome{Status: 302}, withZero, delivery.Fail},
		{"3xx listed as success", Outcome{Status: 302}, webhook.Settings{SuccessCodes: []int{302}}, delivery.Succeed},
		{"refused, 0 listed", Outcome{ErrorClass: ClassRefused}, withZero, delivery.Retry},
		{"reset, 0 listed", Outcome{ErrorClass: ClassReset}, withZero, delivery.Retry},
		{"timeout, 0 listed", Outcome{ErrorClass: ClassTimeout}, withZero, delivery.Retry},
		{"oauth2 token failure, 0 listed", Outcome{ErrorClass: ClassOAuth2}, withZero, delivery.Retry},
		{"timeout, 0 not listed", Outcome{ErrorClass: ClassTimeout}, withoutZero, delivery.Fail},
		{"refused, 0 not listed", Outcome{ErrorClass: ClassRefused}, withoutZero, delivery.Fail},
		{"blocked never retried", Outcome{ErrorClass: ClassBlocked}, withZero, delivery.Fail},
		{"invalid request never retried", Outcome{ErrorClass: ClassInvalidRequest}, withZero, delivery.Fail},
		{"status wins over body timeout", Outcome{Status: 200, ErrorClass: ClassTimeout}, withZero, delivery.Succeed},
		{"status wins over too_large", Outcome{Status: 503, ErrorClass: ClassTooLarge}, withZero, delivery.Retry},
		{"no codes at all", Outcome{Status: 200}, webhook.Settings{}, delivery.Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := verdict(tt.outcome, tt.settings); got != tt.want {
				t.Fatalf("verdict(%+v) = %v, want %v", tt.outcome, got, tt.want)
			}
		})
	}
}
