package deliverer

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strconv"
	"time"

	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/application/deliver"
)

// Signer signs attempts as Cosmo and Standard Webhooks receivers verify them: X-Cosmo-Signature-256
// with the current secret, and webhook-signature with a v1 entry per secret and a v1a entry with the
// service's ed25519 key.
type Signer struct {
	// Key gives the service's signing key; it is asked on every attempt, so it must answer from
	// memory.
	Key func(ctx context.Context) (ed25519.PrivateKey, error)
}

// Sign implements deliver.Signer.
func (s Signer) Sign(ctx context.Context, msgID string, at time.Time, body []byte, secrets []string) (map[string]string, error) {
	key, err := s.Key(ctx)
	if err != nil {
		return nil, fmt.Errorf("the signing key: %w", err)
	}
	ts := at.Unix()
	entries := make([]string, 0, len(secrets)+1)
	for _, secret := range secrets {
		v1, err := webhooksig.StandardV1(secret, msgID, ts, body)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", deliver.ErrSecretUnusable, err)
		}
		entries = append(entries, v1)
	}
	entries = append(entries, webhooksig.StandardV1a(key, msgID, ts, body))
	headers := map[string]string{
		webhooksig.HeaderID:        msgID,
		webhooksig.HeaderTimestamp: strconv.FormatInt(ts, 10),
		webhooksig.HeaderSignature: webhooksig.SignatureHeader(entries...),
	}
	if len(secrets) > 0 {
		headers[webhooksig.HeaderCosmo] = webhooksig.CosmoSignature(secrets[0], body)
	}
	return headers, nil
}
