// Package receiving is the Go example of docs/receiving.md: a receiver that verifies hookd's
// signatures. Its test sends it deliveries signed as hookd signs them, and checks that the document
// shows this file's code as it is.
package receiving

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Handler verifies each delivery with the webhook's secret before it hands the body to handle:
// Standard Webhooks v1, with the official library. A delivery that does not verify is 401.
func Handler(secret string, handle func(body []byte) error) (http.Handler, error) {
	// A whsec_ secret, as hookd generates them. For a secret of your own that does not start with
	// whsec_, hookd signs with its bytes: use standardwebhooks.NewWebhookRaw([]byte(secret)).
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		// The v1 entries of webhook-signature must sign webhook-id, webhook-timestamp (within five
		// minutes of now) and the body exactly as received: verify before parsing.
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if err := handle(body); err != nil {
			// An answer outside the webhook's successCodes; hookd retries those in its retryCodes.
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}), nil
}

// CosmoVerified checks Cosmo's X-Cosmo-Signature-256: the hex HMAC-SHA256 of the body, keyed with
// the secret's bytes as they are (whsec_ included, nothing decoded).
func CosmoVerified(secret string, header http.Header, body []byte) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(header.Get("X-Cosmo-Signature-256")), []byte(want))
}

// V1aVerified checks the v1a entry of webhook-signature, an ed25519 signature of the same content
// as v1, with a whpk_ key from hookd's GET /.well-known (webhook_signing_keys): no shared secret.
func V1aVerified(publicKey string, header http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(publicKey, "whpk_"))
	if err != nil || len(key) != ed25519.PublicKeySize {
		return false
	}
	signed := header.Get("webhook-id") + "." + header.Get("webhook-timestamp") + "." + string(body)
	for _, entry := range strings.Fields(header.Get("webhook-signature")) {
		sig, ok := strings.CutPrefix(entry, "v1a,")
		raw, err := base64.StdEncoding.DecodeString(sig)
		if ok && err == nil && ed25519.Verify(key, []byte(signed), raw) {
			return true
		}
	}
	return false
}
