package receiver_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/receiver"
	"github.com/hookd/hookd/adapters/webhooksig"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// wellKnown serves /.well-known as hookd does, with the public half of whichever key *current holds,
// and counts the fetches.
func wellKnown(t *testing.T, current *atomic.Pointer[ed25519.PrivateKey], fetches *atomic.Int32) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		pub := (*current.Load()).Public().(ed25519.PublicKey)
		_ = json.NewEncoder(w).Encode(map[string]any{"webhook_signing_keys": []map[string]string{{
			"keyId": "k-" + strconv.Itoa(int(pub[0])), "type": "ed25519",
			"publicKey": webhooksig.PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub),
		}}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func newKey(t *testing.T) *ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &key
}

// delivery is a request signed as hookd signs one: Cosmo's header and v1 with signSecret, v1a with key.
func delivery(t *testing.T, signSecret string, key ed25519.PrivateKey, body string) *http.Request {
	t.Helper()
	id, ts := "6f1c2a9e-0000-5000-8000-000000000001", time.Now().Unix()
	v1, err := webhooksig.StandardV1(signSecret, id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	req.Header.Set(webhooksig.HeaderID, id)
	req.Header.Set(webhooksig.HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(webhooksig.HeaderSignature, webhooksig.SignatureHeader(v1, webhooksig.StandardV1a(key, id, ts, []byte(body))))
	req.Header.Set(webhooksig.HeaderCosmo, webhooksig.CosmoSignature(signSecret, []byte(body)))
	req.Header.Set("Authorization", "Bearer s3cret-token")
	return req
}

func TestReceiverVerifiesAndReports(t *testing.T) {
	t.Parallel()
	body := `{"version":1,"event":"E_LOGIN","payload":{"user":"zoe"}}`
	for _, c := range []struct {
		name, secret, signSecret string
		tamper                   bool
		want                     []string
	}{
		{"all verify", secret, secret, false, []string{
			`X-Cosmo-Signature-256: +verified`, `Standard Webhooks v1: +verified`, `Standard Webhooks v1a: +verified \(key k-`}},
		{"wrong secret", "whsec_" + strings.Repeat("A", 32), secret, false, []string{
			`X-Cosmo-Signature-256: +FAILED`, `Standard Webhooks v1: +FAILED`, `Standard Webhooks v1a: +verified`}},
		{"no secret", "", secret, false, []string{
			`X-Cosmo-Signature-256: +not checked \(no secret\)`, `Standard Webhooks v1: +not checked \(no secret\)`, `Standard Webhooks v1a: +verified`}},
		{"body changed on the way", secret, secret, true, []string{
			`X-Cosmo-Signature-256: +FAILED`, `Standard Webhooks v1: +FAILED`, `Standard Webhooks v1a: +FAILED`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var current atomic.Pointer[ed25519.PrivateKey]
			current.Store(newKey(t))
			var fetches atomic.Int32
			var out bytes.Buffer
			r, err := receiver.New(receiver.Config{Secret: c.secret, Status: 202, HookdURL: wellKnown(t, &current, &fetches), Out: &out})
			if err != nil {
				t.Fatal(err)
			}
			req := delivery(t, c.signSecret, *current.Load(), body)
			if c.tamper {
				signed := req
				req = httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(strings.Replace(body, "zoe", "eve", 1)))
				req.Header = signed.Header
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != 202 {
				t.Fatalf("answered %d, want the configured 202", w.Code)
			}
			report := out.String()
			for _, want := range append(c.want, `answered 202`, `Authorization: Bearer …`) {
				if !regexp.MustCompile(want).MatchString(report) {
					t.Errorf("the report lacks %q:\n%s", want, report)
				}
			}
			if strings.Contains(report, "s3cret-token") {
				t.Errorf("the report shows the credential:\n%s", report)
			}
		})
	}
}

// TestReceiverRefetchesAResetSigningKey: the service's signing key may be reset after the receiver
// fetched it; a v1a that no known key verifies makes it fetch the keys again once.
func TestReceiverRefetchesAResetSigningKey(t *testing.T) {
	t.Parallel()
	var current atomic.Pointer[ed25519.PrivateKey]
	current.Store(newKey(t))
	var fetches atomic.Int32
	var out bytes.Buffer
	r, err := receiver.New(receiver.Config{Status: 200, HookdURL: wellKnown(t, &current, &fetches), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"version":1,"event":"E","payload":{}}`
	r.ServeHTTP(httptest.NewRecorder(), delivery(t, secret, *current.Load(), body))
	current.Store(newKey(t)) // reset
	r.ServeHTTP(httptest.NewRecorder(), delivery(t, secret, *current.Load(), body))
	if got := strings.Count(out.String(), "Standard Webhooks v1a: verified"); got != 2 {
		t.Fatalf("%d of 2 deliveries verified with v1a:\n%s", got, out.String())
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches of /.well-known, want 2 (once, then once after the reset)", n)
	}
}

func TestNewRefusesABadStatus(t *testing.T) {
	t.Parallel()
	for _, status := range []int{0, 99, 600} {
		if _, err := receiver.New(receiver.Config{Status: status, Out: &bytes.Buffer{}}); err == nil {
			t.Errorf("status %d accepted", status)
		}
	}
}
