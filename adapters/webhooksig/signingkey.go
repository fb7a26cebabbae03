package webhooksig

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// SigningKeyType is the type of the key StandardV1a signs with, as /servicekeys and /.well-known name it.
const SigningKeyType = "ed25519"

// PublicKeyPrefix marks a Standard Webhooks public key whose remainder is the base64 (standard, padded) of
// the 32-byte ed25519 public key: the form receivers configure to verify v1a entries.
const PublicKeyPrefix = "whpk_"

// ErrInvalidSigningKey is wrapped by every private key ParseSigningKey refuses.
var ErrInvalidSigningKey = errors.New("webhooksig: invalid ed25519 signing key")

// GenerateSigningKey makes an ed25519 key pair from random, which must be a cryptographically secure source
// such as crypto/rand.Reader, and encodes both halves as the log keeps them: standard base64 of the 32-byte
// public key and of the 32-byte seed, RFC 8032's private key (Go's 64-byte form only appends the public
// key to it, so storing it would add nothing but length).
func GenerateSigningKey(random io.Reader) (public, private string, err error) {
	pub, key, err := ed25519.GenerateKey(random)
	if err != nil {
		return "", "", fmt.Errorf("webhooksig: generate ed25519 key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(pub), base64.StdEncoding.EncodeToString(key.Seed()), nil
}

// ParseSigningKey reads a private key in GenerateSigningKey's form and returns it ready for StandardV1a.
func ParseSigningKey(private string) (ed25519.PrivateKey, error) {
	seed, err := base64.StdEncoding.DecodeString(private)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64", ErrInvalidSigningKey)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: must be %d bytes, got %d", ErrInvalidSigningKey, ed25519.SeedSize, len(seed))
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// PublicKeyString writes a public key in Standard Webhooks' asymmetric form, PublicKeyPrefix and the
// standard base64 of its 32 bytes, as /.well-known publishes it.
func PublicKeyString(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}
