// Package receiver is a webhook receiver for local development: an http.Handler that prints each
// request it gets (the headers that matter and the body), checks the signatures hookd sends and
// answers a fixed status. `hookd receive` serves it.
package receiver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/adapters/webhooksig"
)

// MaxBody bounds what the receiver reads of a request: hookd's bodies stay well under it.
const MaxBody = 4 << 20

// Config is what a Receiver checks and answers.
type Config struct {
	// Secret is the webhook's secret, which X-Cosmo-Signature-256 and v1 are checked with (optional:
	// without it they are reported as not checked).
	Secret string
	// Status is the HTTP status every request is answered with.
	Status int
	// HookdURL is hookd's base URL, whose /.well-known keys verify v1a.
	HookdURL string
	// Out receives each request's report, whole: reports of requests that arrive together do not mix.
	Out io.Writer
}

// Receiver prints and verifies each request. It is safe for concurrent use.
type Receiver struct {
	cfg  Config
	v1   *standardwebhooks.Webhook // nil without a secret
	keys *signingKeys
	mu   sync.Mutex
}

// New returns a Receiver; it fails on a status that is not one, or a secret the Standard Webhooks
// library refuses.
func New(cfg Config) (*Receiver, error) {
	if cfg.Status < 100 || cfg.Status > 599 {
		return nil, fmt.Errorf("status %d must be an HTTP status, 100 to 599", cfg.Status)
	}
	if cfg.Out == nil {
		return nil, errors.New("receiver: Out is required")
	}
	r := &Receiver{cfg: cfg, keys: &signingKeys{url: strings.TrimSuffix(cfg.HookdURL, "/") + "/.well-known"}}
	if cfg.Secret != "" {
		var err error
		if r.v1, err = newStandardVerifier(cfg.Secret); err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
	}
	return r, nil
}

// newStandardVerifier is the official library's verifier for a secret as hookd signs with it: a
// whsec_ secret's key is its base64 remainder, any other secret's key its own bytes.
func newStandardVerifier(secret string) (*standardwebhooks.Webhook, error) {
	if strings.HasPrefix(secret, webhooksig.SecretPrefix) {
		return standardwebhooks.NewWebhook(secret)
	}
	return standardwebhooks.NewWebhookRaw([]byte(secret))
}

// headersShown are the request headers the receiver prints, in this order.
var headersShown = []string{"Content-Type", "User-Agent", "Authorization", webhooksig.HeaderID,
	webhooksig.HeaderTimestamp, webhooksig.HeaderSignature, webhooksig.HeaderCosmo}

// ServeHTTP reads the request (up to MaxBody), reports it with its verifications, and answers
// Config.Status.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBody))
	var report bytes.Buffer
	fmt.Fprintf(&report, "--- %s %s %s at %s\n", req.Method, req.URL.RequestURI(), req.Proto, time.Now().UTC().Format(time.RFC3339Nano))
	for _, name := range headersShown {
		if v := req.Header.Get(name); v != "" {
			if name == "Authorization" {
				v = maskCredential(v)
			}
			fmt.Fprintf(&report, "%s: %s\n", http.CanonicalHeaderKey(name), v)
		}
	}
	if err != nil {
		fmt.Fprintf(&report, "body: not read: %v\n", err)
	} else {
		fmt.Fprintf(&report, "body (%d bytes): %s\n", len(body), body)
		for _, line := range r.verify(req.Context(), req.Header, body) {
			fmt.Fprintf(&report, "%s\n", line)
		}
	}
	fmt.Fprintf(&report, "answered %d\n", r.cfg.Status)
	w.WriteHeader(r.cfg.Status)
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.cfg.Out.Write(report.Bytes())
}

// maskCredential keeps an Authorization header's scheme and hides the credential.
func maskCredential(v string) string {
	if scheme, _, ok := strings.Cut(v, " "); ok {
		return scheme + " …"
	}
	return "…"
}

// Verification results, as the receiver prints them.
const (
	verified = "verified"
	failed   = "FAILED"
)

// verify checks each signature the request carries and says, one line each, what came of it.
func (r *Receiver) verify(ctx context.Context, h http.Header, body []byte) []string {
	var lines []string
	result := func(name, outcome string) { lines = append(lines, fmt.Sprintf("%-22s %s", name+":", outcome)) }

	cosmo := h.Get(webhooksig.HeaderCosmo)
	switch {
	case cosmo == "":
		result("X-Cosmo-Signature-256", "absent")
	case r.cfg.Secret == "":
		result("X-Cosmo-Signature-256", "not checked (no secret)")
	case hmac.Equal([]byte(cosmo), []byte(webhooksig.CosmoSignature(r.cfg.Secret, body))):
		result("X-Cosmo-Signature-256", verified)
	default:
		result("X-Cosmo-Signature-256", failed+" (not the HMAC of the body with the secret)")
	}

	entries := strings.Fields(h.Get(webhooksig.HeaderSignature))
	hasV1 := false
	var v1a []string
	for _, e := range entries {
		if strings.HasPrefix(e, "v1,") {
			hasV1 = true
		}
		if sig, ok := strings.CutPrefix(e, "v1a,"); ok {
			v1a = append(v1a, sig)
		}
	}
	switch {
	case !hasV1:
		result("Standard Webhooks v1", "absent")
	case r.v1 == nil:
		result("Standard Webhooks v1", "not checked (no secret)")
	default:
		if err := r.v1.Verify(body, h); err != nil {
			result("Standard Webhooks v1", failed+" ("+err.Error()+")")
		} else {
			result("Standard Webhooks v1", verified)
		}
	}

	if len(v1a) == 0 {
		result("Standard Webhooks v1a", "absent")
		return lines
	}
	signed := h.Get(webhooksig.HeaderID) + "." + h.Get(webhooksig.HeaderTimestamp) + "." + string(body)
	check := func(keys []publishedKey) (string, bool) {
		for _, k := range keys {
			for _, sig := range v1a {
				raw, err := base64.StdEncoding.DecodeString(sig)
				if err == nil && ed25519.Verify(k.key, []byte(signed), raw) {
					return k.id, true
				}
			}
		}
		return "", false
	}
	keys, err := r.keys.get(ctx, false)
	if err != nil {
		result("Standard Webhooks v1a", "not checked ("+err.Error()+")")
		return lines
	}
	id, ok := check(keys)
	if !ok {
		// The service's signing key may have been reset since it was fetched.
		if keys, err = r.keys.get(ctx, true); err == nil {
			id, ok = check(keys)
		}
	}
	if ok {
		result("Standard Webhooks v1a", verified+" (key "+id+" from "+r.keys.url+")")
	} else {
		result("Standard Webhooks v1a", failed+" (no key of "+r.keys.url+" verifies it)")
	}
	return lines
}

// publishedKey is a v1a verification key /.well-known publishes.
type publishedKey struct {
	id  string
	key ed25519.PublicKey
}

// signingKeys fetches hookd's /.well-known keys once, and again when asked to.
type signingKeys struct {
	url  string
	mu   sync.Mutex
	keys []publishedKey
}

func (s *signingKeys) get(ctx context.Context, refresh bool) ([]publishedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys != nil && !refresh {
		return s.keys, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the signing keys: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Keys []struct {
			KeyID     string `json:"keyId"`
			PublicKey string `json:"publicKey"`
		} `json:"webhook_signing_keys"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", s.url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %w", s.url, err)
	}
	var keys []publishedKey
	for _, k := range body.Keys {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(k.PublicKey, webhooksig.PublicKeyPrefix))
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%s: key %s is not a %s ed25519 key", s.url, k.KeyID, webhooksig.PublicKeyPrefix)
		}
		keys = append(keys, publishedKey{id: k.KeyID, key: raw})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s publishes no signing key", s.url)
	}
	s.keys = keys
	return keys, nil
}
