package sender

import (
	"testing"

	"github.com/hookd/hookd/domain/webhook"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	withZero := webhook.Settings{SuccessCodes: []int{200, 204}, RetryCodes: []int{0, 429, 503}}
	withoutZero := webhook.Settings{SuccessCodes: []int{200}, RetryCodes: []int{500}}
	tests := []struct {
		name     string
		outcome  Outcome
		settings webhook.Settings
		want     Verdict
	}{
		{"success code", Outcome{Status: 200}, withZero, Succeeded},
		{"other success code", Outcome{Status: 204}, withZero, Succeeded},
		{"2xx not listed fails", Outcome{Status: 201}, withZero, Fail},
		{"retry code", Outcome{Status: 503}, withZero, Retry},
		{"retry code 429", Outcome{Status: 429}, withZero, Retry},
		{"unlisted 5xx fails", Outcome{Status: 502}, withZero, Fail},
		{"4xx fails", Outcome{Status: 404}, withZero, Fail},
		{"3xx fails", Outcome{Status: 302}, withZero, Fail},
		{"3xx listed as success", Outcome{Status: 302}, webhook.Settings{SuccessCodes: []int{302}}, Succeeded},
		{"refused, 0 listed", Outcome{ErrorClass: ClassRefused}, withZero, Retry},
		{"reset, 0 listed", Outcome{ErrorClass: ClassReset}, withZero, Retry},
		{"timeout, 0 listed", Outcome{ErrorClass: ClassTimeout}, withZero, Retry},
		{"oauth2 token failure, 0 listed", Outcome{ErrorClass: ClassOAuth2}, withZero, Retry},
		{"timeout, 0 not listed", Outcome{ErrorClass: ClassTimeout}, withoutZero, Fail},
		{"refused, 0 not listed", Outcome{ErrorClass: ClassRefused}, withoutZero, Fail},
		{"blocked never retried", Outcome{ErrorClass: ClassBlocked}, withZero, Fail},
		{"invalid request never retried", Outcome{ErrorClass: ClassInvalidRequest}, withZero, Fail},
		{"status wins over body timeout", Outcome{Status: 200, ErrorClass: ClassTimeout}, withZero, Succeeded},
		{"status wins over too_large", Outcome{Status: 503, ErrorClass: ClassTooLarge}, withZero, Retry},
		{"no codes at all", Outcome{Status: 200}, webhook.Settings{}, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.outcome, tt.settings); got != tt.want {
				t.Fatalf("Classify(%+v) = %v, want %v", tt.outcome, got, tt.want)
			}
		})
	}
}
