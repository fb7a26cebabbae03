package webhooksig

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Header names a delivery carries. net/http canonicalises them on the wire; receivers match them without
// regard to case.
const (
	// HeaderCosmo carries CosmoSignature; it is left out when the webhook has no secret.
	HeaderCosmo = "X-Cosmo-Signature-256"
	// HeaderID carries the delivery id, the same on every retry and replay so receivers can deduplicate.
	HeaderID = "webhook-id"
	// HeaderTimestamp carries the attempt's Unix time in seconds, which the signatures cover.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature carries SignatureHeader's space-separated v1 and v1a entries.
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a Standard Webhooks secret whose remainder is the base64 (standard, padded) key.
const SecretPrefix = "whsec_"

// ErrEmptySecret is returned by StandardV1 for a secret with no key bytes: an HMAC with an empty key
// proves nothing, so a webhook without a secret gets no v1 entry rather than a worthless one.
var ErrEmptySecret = errors.New("webhooksig: empty webhook secret")

// ErrSecretEncoding is returned by StandardV1 when the part after SecretPrefix is not standard base64.
var ErrSecretEncoding = errors.New("webhooksig: whsec_ secret is not valid base64")

// CosmoSignature returns Cosmo's X-Cosmo-Signature-256: the lowercase hex HMAC-SHA256 of body keyed with
// the secret's bytes as they are (no whsec_ decoding; Cosmo receivers use the secret string directly). The
// caller leaves the header out when the secret is empty, as Cosmo does.
func CosmoSignature(secret string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// StandardV1 returns the Standard Webhooks entry "v1,<base64 HMAC-SHA256>" over "msgID.timestamp.body".
// The key is the base64-decoded remainder of a secret that starts with SecretPrefix, or else the secret's
// own bytes (1Kosmos and Cosmo secrets are plain strings; receivers using the official libraries then
// construct their verifier from the raw bytes). timestamp is the attempt's Unix time in seconds, sent in
// HeaderTimestamp. It fails with ErrEmptySecret or ErrSecretEncoding.
func StandardV1(secret, msgID string, timestamp int64, body []byte) (string, error) {
	key, err := standardKey(secret)
	if err != nil {
		return "", err
	}
	h := hmac.New(sha256.New, key)
	// Written piecewise so a 256 KiB body is not copied just to be signed.
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, timestamp, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

func standardKey(secret string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(secret, SecretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.Join(ErrSecretEncoding, err)
		}
		if len(key) == 0 {
			return nil, ErrEmptySecret
		}
		return key, nil
	}
	if secret == "" {
		return nil, ErrEmptySecret
	}
	return []byte(secret), nil
}

// StandardV1a returns the Standard Webhooks asymmetric entry "v1a,<base64 ed25519 signature>" over
// "msgID.timestamp.body", signed with the service's key so receivers can verify with the published public
// key and no shared secret. Like ed25519.Sign it panics when key is not ed25519.PrivateKeySize bytes long:
// a malformed service key is a start-up error, not a per-delivery one.
func StandardV1a(key ed25519.PrivateKey, msgID string, timestamp int64, body []byte) string {
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(key, signedContent(msgID, timestamp, body)))
}

// signedContent is "msgID.timestamp.body", the bytes both Standard Webhooks signatures cover.
func signedContent(msgID string, timestamp int64, body []byte) []byte {
	msg := make([]byte, 0, len(msgID)+len(body)+22)
	msg = append(msg, msgID...)
	msg = append(msg, '.')
	msg = strconv.AppendInt(msg, timestamp, 10)
	msg = append(msg, '.')
	return append(msg, body...)
}

// SignatureHeader joins signature entries with spaces for HeaderSignature: during a secret rotation one
// v1 entry per valid secret, then the v1a entry. Empty entries are skipped, so a caller can pass the
// result of an optional signature without checking it first.
func SignatureHeader(entries ...string) string {
	var b strings.Builder
	for _, e := range entries {
		if e == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e)
	}
	return b.String()
}
