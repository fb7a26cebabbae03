// Command sign prints a delivery signed now as hookd signs one: the secret, the headers and the
// body, as JSON. `make receiving-examples` verifies it with the Node and Python examples of
// docs/receiving.md; it is signed at each run since the libraries refuse a timestamp more than
// five minutes old.
package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/webhooksig"
)

// secret is the example webhook's secret.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sign:", err)
		os.Exit(1)
	}
}

func run() error {
	body, err := webhooksig.Body("USER_CREATED", json.RawMessage(`{"user":{"id":2,"name":"Zoë"}}`))
	if err != nil {
		return err
	}
	id, now := uuid.NewString(), time.Now().Unix()
	v1, err := webhooksig.StandardV1(secret, id, now, body)
	if err != nil {
		return err
	}
	public, private, err := webhooksig.GenerateSigningKey(rand.Reader)
	if err != nil {
		return err
	}
	key, err := webhooksig.ParseSigningKey(private)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{
		"secret":    secret,
		"publicKey": webhooksig.PublicKeyPrefix + public,
		"headers": map[string]string{
			"content-type":             "application/json",
			webhooksig.HeaderID:        id,
			webhooksig.HeaderTimestamp: fmt.Sprint(now),
			webhooksig.HeaderSignature: webhooksig.SignatureHeader(v1, webhooksig.StandardV1a(key, id, now, body)),
			"x-cosmo-signature-256":    webhooksig.CosmoSignature(secret, body),
		},
		"body": string(body),
	})
}
