// Package kosmoscrypto is 1Kosmos's "ECDSA encryption": ECDH on secp256k1, whose 32-byte shared
// x-coordinate is used directly as an AES-256-GCM key, with a 16-byte random IV and the wire form
// base64(IV ‖ ciphertext ‖ tag). It is not a signature scheme: both parties derive the same key from
// their own private key and the other's public key.
//
// Keys travel as 1Kosmos writes them: a private key is the standard base64 of its 32-byte scalar, a
// public key the standard base64 of the 64-byte X ‖ Y point, without the 0x04 prefix of SEC 1.
package kosmoscrypto

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Sizes of the encoded parts, in bytes before base64.
const (
	PrivateKeySize = 32
	PublicKeySize  = 64
	SharedKeySize  = 32
)

// CurveName is the curve's name as /environment publishes it.
const CurveName = "secp256k1"

// ErrInvalidPrivateKey and ErrInvalidPublicKey are wrapped by every key that fails to parse; the
// wrapping error says what is wrong with it.
var (
	ErrInvalidPrivateKey = errors.New("invalid private key")
	ErrInvalidPublicKey  = errors.New("invalid public key")
)

// PrivateKey is a secp256k1 private key. The zero value is no key; every function that takes one
// rejects it. It keeps its public key, computed once, because deriving it is a scalar multiplication
// that hot paths must not repeat.
type PrivateKey struct {
	key *secp256k1.PrivateKey
	pub PublicKey
}

// PublicKey is a secp256k1 public key, a point on the curve. The zero value is no key. Compare keys
// by their Bytes.
type PublicKey struct {
	key *secp256k1.PublicKey
	xy  [PublicKeySize]byte
}

// KeyPair is a private key with its public key.
type KeyPair struct {
	Private PrivateKey
	Public  PublicKey
}

// GenerateKeyPair makes a new key pair from rand, which must be a cryptographically secure source
// such as crypto/rand.Reader.
func GenerateKeyPair(rand io.Reader) (KeyPair, error) {
	k, err := secp256k1.GeneratePrivateKeyFromRand(rand)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate secp256k1 key: %w", err)
	}
	priv := newPrivateKey(k)
	return KeyPair{Private: priv, Public: priv.pub}, nil
}

// ParsePrivateKey reads a private key in 1Kosmos's form: standard base64 of the 32-byte big-endian
// scalar, which must lie in [1, n-1].
func ParsePrivateKey(s string) (PrivateKey, error) {
	if s == "" {
		return PrivateKey{}, fmt.Errorf("%w: empty", ErrInvalidPrivateKey)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%w: not standard base64: %v", ErrInvalidPrivateKey, err)
	}
	if len(b) != PrivateKeySize {
		return PrivateKey{}, fmt.Errorf("%w: must be %d bytes, got %d", ErrInvalidPrivateKey, PrivateKeySize, len(b))
	}
	var scalar secp256k1.ModNScalar
	if overflow := scalar.SetByteSlice(b); overflow || scalar.IsZero() {
		return PrivateKey{}, fmt.Errorf("%w: scalar is zero or not below the curve order", ErrInvalidPrivateKey)
	}
	return newPrivateKey(secp256k1.NewPrivateKey(&scalar)), nil
}

// ParsePublicKey reads a public key in 1Kosmos's form: standard base64 of the 64-byte X ‖ Y point,
// which must lie on secp256k1.
func ParsePublicKey(s string) (PublicKey, error) {
	if s == "" {
		return PublicKey{}, fmt.Errorf("%w: empty", ErrInvalidPublicKey)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: not standard base64: %v", ErrInvalidPublicKey, err)
	}
	switch {
	case len(b) == PublicKeySize+1 && b[0] == 0x04:
		// The commonest mistake: SEC 1 uncompressed form, as most libraries print it.
		return PublicKey{}, fmt.Errorf("%w: must be the %d bytes X‖Y without the 0x04 prefix, got %d bytes starting with 0x04", ErrInvalidPublicKey, PublicKeySize, len(b))
	case len(b) != PublicKeySize:
		return PublicKey{}, fmt.Errorf("%w: must be %d bytes (X‖Y), got %d", ErrInvalidPublicKey, PublicKeySize, len(b))
	}
	sec1 := make([]byte, 0, PublicKeySize+1)
	sec1 = append(append(sec1, 0x04), b...)
	k, err := secp256k1.ParsePubKey(sec1)
	if err != nil {
		// ParsePubKey also rejects coordinates at or above the field prime.
		return PublicKey{}, fmt.Errorf("%w: not a point on secp256k1", ErrInvalidPublicKey)
	}
	return newPublicKey(k), nil
}

// SharedKey is the ECDH key of priv and pub: the x-coordinate of priv·pub, used directly as the
// AES-256-GCM key. Both parties get the same key: SharedKey(a, B) == SharedKey(b, A).
func SharedKey(priv PrivateKey, pub PublicKey) ([SharedKeySize]byte, error) {
	var out [SharedKeySize]byte
	if priv.key == nil {
		return out, fmt.Errorf("%w: no key", ErrInvalidPrivateKey)
	}
	if pub.key == nil {
		return out, fmt.Errorf("%w: no key", ErrInvalidPublicKey)
	}
	copy(out[:], secp256k1.GenerateSharedSecret(priv.key, pub.key))
	return out, nil
}

// PublicKey returns the public key that belongs to p.
func (p PrivateKey) PublicKey() PublicKey { return p.pub }

// IsZero reports whether p is the zero value, which holds no key.
func (p PrivateKey) IsZero() bool { return p.key == nil }

// Encode returns p in 1Kosmos's form: standard base64 of the 32-byte scalar. The result is a secret.
func (p PrivateKey) Encode() string {
	if p.key == nil {
		return ""
	}
	var b [PrivateKeySize]byte
	p.key.Key.PutBytes(&b)
	return base64.StdEncoding.EncodeToString(b[:])
}

// String hides the key, so that a private key printed by accident does not end up in a log. Use
// Encode to get the key itself.
func (p PrivateKey) String() string { return "kosmoscrypto.PrivateKey(redacted)" }

// IsZero reports whether p is the zero value, which holds no key.
func (p PublicKey) IsZero() bool { return p.key == nil }

// Bytes returns the 64-byte X ‖ Y form of p.
func (p PublicKey) Bytes() [PublicKeySize]byte { return p.xy }

// Encode returns p in 1Kosmos's form: standard base64 of the 64-byte X ‖ Y point.
func (p PublicKey) Encode() string {
	if p.key == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(p.xy[:])
}

// String returns Encode's form.
func (p PublicKey) String() string { return p.Encode() }

func newPrivateKey(k *secp256k1.PrivateKey) PrivateKey {
	return PrivateKey{key: k, pub: newPublicKey(k.PubKey())}
}

func newPublicKey(k *secp256k1.PublicKey) PublicKey {
	p := PublicKey{key: k}
	copy(p.xy[:], k.SerializeUncompressed()[1:])
	return p
}
