// Package sealer encrypts secrets (endpoint credentials, signing secrets, private keys) before they
// reach the log or the read models, with AES-256-GCM under a master key.
//
// A sealed value reads hk1:<kid>:<base64url(nonce ‖ ciphertext ‖ tag)>. The key id <kid> is the hex
// of the first 8 bytes of SHA-256 of the key, so a node can tell which key sealed a value and keys
// can be rotated: a Sealer seals with one key and opens with it or any older key it was given.
// Associated data binds a value to its record (for example the stream name), so a sealed value
// copied into another record does not open.
package sealer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KeySize is the size of a master key in bytes.
const KeySize = 32

const (
	prefix    = "hk1:"
	kidLen    = 16 // hex characters: 8 bytes of SHA-256
	nonceSize = 12
	tagSize   = 16
)

// Errors Open wraps; the wrapping error gives the detail.
var (
	// ErrMalformed: the value is not in the hk1 form.
	ErrMalformed = errors.New("sealer: malformed sealed value")
	// ErrUnknownKey: the value was sealed with a key this Sealer does not hold.
	ErrUnknownKey = errors.New("sealer: unknown key id")
	// ErrCannotOpen: the key is right but the value does not authenticate: it was tampered with or
	// belongs to another record (other associated data).
	ErrCannotOpen = errors.New("sealer: cannot open sealed value")
)

// Sealer seals with its primary key and opens with any of its keys. It is safe for concurrent use.
type Sealer struct {
	primary key
	keys    map[string]key
}

type key struct {
	id   string
	aead cipher.AEAD
}

// New builds a Sealer that seals with primary and opens values sealed with primary or any of
// previous (older keys kept for rotation). Every key must be KeySize bytes.
func New(primary []byte, previous ...[]byte) (*Sealer, error) {
	p, err := newKey(primary)
	if err != nil {
		return nil, err
	}
	s := &Sealer{primary: p, keys: map[string]key{p.id: p}}
	for _, raw := range previous {
		k, err := newKey(raw)
		if err != nil {
			return nil, err
		}
		s.keys[k.id] = k
	}
	return s, nil
}

func newKey(raw []byte) (key, error) {
	if len(raw) != KeySize {
		return key{}, fmt.Errorf("sealer: a key must be %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, fmt.Errorf("sealer: %w", err)
	}
	sum := sha256.Sum256(raw)
	return key{id: hex.EncodeToString(sum[:kidLen/2]), aead: aead}, nil
}

// KeyID is the id of the key Seal uses; it is safe to log.
func (s *Sealer) KeyID() string { return s.primary.id }

// Seal encrypts plaintext for the record that associatedData names. The empty string seals to the
// empty string: there is nothing to hide, and an optional field left empty stays recognisably empty.
//
// Nonces are random; with 96-bit nonces one key may seal about 2^32 values before it must be
// rotated, far more than the secrets a node holds.
func (s *Sealer) Seal(plaintext, associatedData string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	if _, err := rand.Read(out); err != nil {
		return "", fmt.Errorf("sealer: nonce: %w", err)
	}
	out = s.primary.aead.Seal(out, out[:nonceSize], []byte(plaintext), []byte(associatedData))
	return prefix + s.primary.id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal produced for the same associatedData. The empty string opens to the empty
// string. Any other value that is not sealed is refused (ErrMalformed) rather than passed through,
// so that a plain secret that slipped into the log is noticed. Errors wrap ErrMalformed,
// ErrUnknownKey or ErrCannotOpen.
func (s *Sealer) Open(sealed, associatedData string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	kid, body, ok := split(sealed)
	if !ok {
		return "", fmt.Errorf("%w: want %s<key id>:<data>", ErrMalformed, prefix)
	}
	k, ok := s.keys[kid]
	if !ok {
		return "", fmt.Errorf("%w: value sealed with key %s; this node holds %s", ErrUnknownKey, kid, strings.Join(s.keyIDs(), ", "))
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", fmt.Errorf("%w: data is not unpadded base64url", ErrMalformed)
	}
	if len(raw) < nonceSize+tagSize {
		return "", fmt.Errorf("%w: data too short", ErrMalformed)
	}
	pt, err := k.aead.Open(nil, raw[:nonceSize], raw[nonceSize:], []byte(associatedData))
	if err != nil {
		return "", fmt.Errorf("%w: tampered with, or sealed for another record", ErrCannotOpen)
	}
	return string(pt), nil
}

func (s *Sealer) keyIDs() []string {
	ids := make([]string, 0, len(s.keys))
	for id := range s.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// IsSealed reports whether s has the form of a sealed value. It does not check that any key opens
// it. The empty string is not sealed.
func IsSealed(s string) bool {
	_, _, ok := split(s)
	return ok
}

// split takes a sealed value apart into its key id and its base64url data.
func split(s string) (kid, body string, ok bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return "", "", false
	}
	kid, body, ok = strings.Cut(rest, ":")
	if !ok || len(kid) != kidLen || body == "" {
		return "", "", false
	}
	for _, c := range kid {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", "", false
		}
	}
	return kid, body, true
}
