package main

import (
	"encoding/base64"
	"fmt"
	"io"

	"github.com/hookd/hookd/domain/webhook"
)

// webhookSecretBytes is the key length of a generated signing secret (Standard Webhooks' 24 to 64).
const webhookSecretBytes = 32

// newWebhookSecret makes a signing secret in Standard Webhooks' form: whsec_ and base64 of the key.
func newWebhookSecret(random io.Reader) (string, error) {
	key := make([]byte, webhookSecretBytes)
	if _, err := io.ReadFull(random, key); err != nil {
		return "", fmt.Errorf("generating a webhook secret: %w", err)
	}
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}
