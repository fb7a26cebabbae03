package kosmoscrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
)

// IVSize and TagSize are the sizes of the GCM nonce and tag on the wire. 1Kosmos uses a 16-byte IV,
// not GCM's usual 12 bytes; GCM then derives its counter block by GHASH, which Go supports.
const (
	IVSize  = 16
	TagSize = 16
)

// ErrInvalidCiphertext is wrapped by every ciphertext that cannot be decrypted: bad base64, too short
// to hold an IV and a tag, or failing authentication (wrong key or tampered data).
var ErrInvalidCiphertext = errors.New("invalid ciphertext")

// Encrypt seals plaintext with AES-256-GCM under key, with a 16-byte IV read from rand, and returns
// base64(IV ‖ ciphertext ‖ tag). rand must be a cryptographically secure source such as
// crypto/rand.Reader: an IV used twice with one key breaks GCM.
func Encrypt(key [SharedKeySize]byte, plaintext []byte, rand io.Reader) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	out := make([]byte, IVSize, IVSize+len(plaintext)+TagSize)
	if _, err := io.ReadFull(rand, out); err != nil {
		return "", fmt.Errorf("read IV: %w", err)
	}
	out = aead.Seal(out, out[:IVSize], plaintext, nil)
	return base64.StdEncoding.EncodeToString(out), nil
}

// Decrypt opens what Encrypt produced. Every failure wraps ErrInvalidCiphertext.
func Decrypt(key [SharedKeySize]byte, ciphertext string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64: %v", ErrInvalidCiphertext, err)
	}
	if len(raw) < IVSize+TagSize {
		return nil, fmt.Errorf("%w: %d bytes is too short for a %d-byte IV and a %d-byte tag", ErrInvalidCiphertext, len(raw), IVSize, TagSize)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	plaintext, err := aead.Open(nil, raw[:IVSize], raw[IVSize:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (wrong key or tampered data)", ErrInvalidCiphertext)
	}
	return plaintext, nil
}

func newAEAD(key [SharedKeySize]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCMWithNonceSize(block, IVSize)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}
