package webhooksig_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/internal/testvectors"
)

// standardVector is testdata standard-webhooks.json (internal/testvectors), the specification's known answer.
type standardVector struct {
	ID        string `json:"webhook_id"`
	Timestamp string `json:"webhook_timestamp"`
	Body      string `json:"body"`
	Secret    string `json:"secret"`
	Signature string `json:"webhook_signature"`
}

func TestStandardV1Vector(t *testing.T) {
	t.Parallel()
	var v standardVector
	testvectors.Load(t, "standard-webhooks.json", &v)
	ts, err := strconv.ParseInt(v.Timestamp, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	got, err := webhooksig.StandardV1(v.Secret, v.ID, ts, []byte(v.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got != v.Signature {
		t.Fatalf("StandardV1 = %s, want %s", got, v.Signature)
	}
}

func TestStandardV1Secrets(t *testing.T) {
	t.Parallel()
	body := []byte(`{}`)
	for _, tc := range []struct {
		name, secret string
		err          error
	}{
		{"empty", "", webhooksig.ErrEmptySecret},
		{"empty after prefix", "whsec_", webhooksig.ErrEmptySecret},
		{"bad base64", "whsec_!!!", webhooksig.ErrSecretEncoding},
		{"raw secret", "plain-secret", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhooksig.StandardV1(tc.secret, "msg", 1, body)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

// delivery builds what the deliverer sends, from this package alone, for a verifier to check.
func delivery(t *testing.T, msgID string, ts time.Time, v1Secrets []string, key ed25519.PrivateKey) ([]byte, http.Header) {
	t.Helper()
	body, err := webhooksig.Body("FEDERATED_GRAPH_SCHEMA_UPDATED", json.RawMessage(`{"federated_graph":{"id":"g1"},"errors":false}`))
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, s := range v1Secrets {
		e, err := webhooksig.StandardV1(s, msgID, ts.Unix(), body)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if key != nil {
		entries = append(entries, webhooksig.StandardV1a(key, msgID, ts.Unix(), body))
	}
	h := http.Header{}
	h.Set(webhooksig.HeaderID, msgID)
	h.Set(webhooksig.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhooksig.HeaderSignature, webhooksig.SignatureHeader(entries...))
	return body, h
}

// The official Go library (standard-webhooks/libraries v0.0.1, package go) verifies v1 only; it has no
// v1a support, so v1a is checked with crypto/ed25519 below.
func TestDeliveryVerifiesWithOfficialLibrary(t *testing.T) {
	t.Parallel()
	const (
		oldSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		newSecret = "whsec_" + "c2Vjb25kLXNlY3JldC1ieXRlcy0wMTIzNDU2Nzg5YWI="
		rawSecret = "a-1kosmos-plain-secret"
	)
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// During a rotation both v1 entries travel with the v1a; each secret must verify on its own.
	body, h := delivery(t, "dlv_0123", now, []string{oldSecret, newSecret}, key)
	if got := strings.Count(h.Get(webhooksig.HeaderSignature), " "); got != 2 {
		t.Fatalf("signature header %q: want three entries", h.Get(webhooksig.HeaderSignature))
	}
	for _, s := range []string{oldSecret, newSecret} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("official library rejects delivery signed with %s: %v", s, err)
		}
	}
	// A secret without whsec_ is used as raw bytes, which the library takes through NewWebhookRaw.
	body, h = delivery(t, "dlv_raw", now, []string{rawSecret}, nil)
	wh, err := standardwebhooks.NewWebhookRaw([]byte(rawSecret))
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(body, h); err != nil {
		t.Errorf("official library rejects delivery signed with a raw secret: %v", err)
	}
	// A tampered body or a retired secret must fail: the test would pass vacuously otherwise.
	wrong, err := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte("retired")))
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Verify(body, h); err == nil {
		t.Error("official library accepted a delivery under the wrong secret")
	}
	if err := wh.Verify(append([]byte(" "), body...), h); err == nil {
		t.Error("official library accepted a tampered body")
	}
}

func TestStandardV1aVerifiesWithEd25519(t *testing.T) {
	t.Parallel()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1614265330, 0)
	body, h := delivery(t, "dlv_v1a", ts, []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, key)
	var sig []byte
	for _, e := range strings.Split(h.Get(webhooksig.HeaderSignature), " ") {
		if v, ok := strings.CutPrefix(e, "v1a,"); ok {
			if sig, err = base64.StdEncoding.DecodeString(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sig == nil {
		t.Fatalf("no v1a entry in %q", h.Get(webhooksig.HeaderSignature))
	}
	msg := "dlv_v1a.1614265330." + string(body)
	if !ed25519.Verify(pub, []byte(msg), sig) {
		t.Fatal("v1a signature does not verify over id.timestamp.body")
	}
	if ed25519.Verify(pub, []byte(msg+" "), sig) {
		t.Fatal("v1a signature verifies over a different body")
	}
}

func TestStandardV1aKnownAnswer(t *testing.T) {
	t.Parallel()
	// ed25519 is deterministic, so a fixed seed gives a fixed answer; this pins the signed content
	// (id.timestamp.body) and the encoding (v1a, standard base64 with padding).
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	got := webhooksig.StandardV1a(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	want := "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(`msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}`)))
	if got != want {
		t.Fatalf("StandardV1a = %s, want %s", got, want)
	}
}

func TestSignatureHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"v1,a"}, "v1,a"},
		{[]string{"v1,a", "v1,b", "v1a,c"}, "v1,a v1,b v1a,c"},
		{[]string{"", "v1a,c"}, "v1a,c"},
		{[]string{"v1,a", ""}, "v1,a"},
	} {
		if got := webhooksig.SignatureHeader(tc.in...); got != tc.want {
			t.Errorf("SignatureHeader(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCosmoSignatureKnownAnswer(t *testing.T) {
	t.Parallel()
	// RFC 4231 test case 2: HMAC-SHA256 with key "Jefe".
	got := webhooksig.CosmoSignature("Jefe", []byte("what do ya want for nothing?"))
	if want := "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Fatalf("CosmoSignature = %s, want %s", got, want)
	}
}
