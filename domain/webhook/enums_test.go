package webhook_test

import (
	"encoding/json"
	"testing"

	"github.com/hookd/hookd/domain/webhook"
)

func TestParseCriteria(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    webhook.Criteria
		wantErr bool
	}{
		{"ANY", webhook.CriteriaAny, false},
		{"ALL", webhook.CriteriaAll, false},
		{"", webhook.Criteria{}, true},
		{"any", webhook.Criteria{}, true},
		{"All", webhook.Criteria{}, true},
		{"NONE", webhook.Criteria{}, true},
		{" ANY", webhook.Criteria{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := webhook.ParseCriteria(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseCriteria(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
			}
			if tt.wantErr {
				if !got.IsZero() {
					t.Error("a refused criteria is not zero")
				}
				var c webhook.Criteria
				if err := json.Unmarshal([]byte(`"`+tt.in+`"`), &c); err == nil {
					t.Errorf("JSON %q was accepted as %v", tt.in, c)
				}
				return
			}
			b, err := json.Marshal(got)
			if err != nil || string(b) != `"`+tt.in+`"` {
				t.Errorf("Marshal = %s, %v", b, err)
			}
			var back webhook.Criteria
			if err := json.Unmarshal(b, &back); err != nil || back != got {
				t.Errorf("Unmarshal(%s) = %v, %v", b, back, err)
			}
		})
	}
}

func TestParseAuthType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    webhook.AuthType
		wantErr bool
	}{
		{"none", webhook.AuthNone, false},
		{"basic", webhook.AuthBasic, false},
		{"bearer", webhook.AuthBearer, false},
		{"api_key", webhook.AuthAPIKey, false},
		{"oauth2", webhook.AuthOAuth2, false},
		{"", webhook.AuthType{}, true},
		{"Basic", webhook.AuthType{}, true},
		{"apikey", webhook.AuthType{}, true},
		{"api-key", webhook.AuthType{}, true},
		{"digest", webhook.AuthType{}, true},
		{"oauth", webhook.AuthType{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := webhook.ParseAuthType(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseAuthType(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
			}
			if tt.wantErr {
				if !got.IsZero() {
					t.Error("a refused auth type is not zero")
				}
				var a webhook.AuthType
				if err := json.Unmarshal([]byte(`"`+tt.in+`"`), &a); err == nil {
					t.Errorf("JSON %q was accepted as %v", tt.in, a)
				}
				return
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q", got.String())
			}
			b, err := json.Marshal(got)
			if err != nil || string(b) != `"`+tt.in+`"` {
				t.Errorf("Marshal = %s, %v", b, err)
			}
			var back webhook.AuthType
			if err := json.Unmarshal(b, &back); err != nil || back != got {
				t.Errorf("Unmarshal(%s) = %v, %v", b, back, err)
			}
		})
	}
}
