package webhooksig_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/internal/testvectors"
)

// cosmoVectors is testdata cosmo-signature.json (internal/testvectors).
type cosmoVectors struct {
	Secret string `json:"secret"`
	Cases  []struct {
		Name      string `json:"name"`
		Event     string `json:"event"`
		Payload   string `json:"payload_json"`
		Body      string `json:"body"`
		Signature string `json:"x_cosmo_signature_256"`
	} `json:"cases"`
}

func TestBodyAndCosmoSignatureVectors(t *testing.T) {
	t.Parallel()
	var v cosmoVectors
	testvectors.Load(t, "cosmo-signature.json", &v)
	if len(v.Cases) == 0 || v.Secret == "" {
		t.Fatal("cosmo-signature.json has no cases or no secret")
	}
	for _, tc := range v.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			body, err := webhooksig.Body(tc.Event, json.RawMessage(tc.Payload))
			if err != nil {
				t.Fatalf("Body: %v", err)
			}
			if string(body) != tc.Body {
				t.Fatalf("Body\n got %s\nwant %s", body, tc.Body)
			}
			if got := webhooksig.CosmoSignature(v.Secret, body); got != tc.Signature {
				t.Fatalf("CosmoSignature = %s, want %s", got, tc.Signature)
			}
		})
	}
}

func TestBodyEventNameEscaped(t *testing.T) {
	t.Parallel()
	body, err := webhooksig.Body("a\"b\\c\n<>", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":1,"event":"a\"b\\c\n<>","payload":{}}`; string(body) != want {
		t.Fatalf("got %s, want %s", body, want)
	}
	if _, err := webhooksig.Body("\xff", json.RawMessage(`{}`)); !errors.Is(err, webhooksig.ErrEventName) {
		t.Fatalf("invalid UTF-8 event name: err = %v, want ErrEventName", err)
	}
}
