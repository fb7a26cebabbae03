package kosmoscrypto

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// HelperResult is the answer of POST /ecdsa_helper/{encrypt|decrypt}: the transformed data and the
// public key of the private key given, which the other party needs to derive the same shared key.
type HelperResult struct {
	Data      string
	PublicKey string
}

// HelperEncrypt is /ecdsa_helper/encrypt: it encrypts data for the holder of publicKey (the other
// party), with the key shared between them and privateKey (the caller's). Both keys are in
// 1Kosmos's base64 form. Errors other than a failing rand wrap ErrInvalidPublicKey or
// ErrInvalidPrivateKey, and are the caller's fault.
func HelperEncrypt(data, publicKey, privateKey string, rand io.Reader) (HelperResult, error) {
	priv, key, err := helperKeys(publicKey, privateKey)
	if err != nil {
		return HelperResult{}, err
	}
	ct, err := Encrypt(key, []byte(data), rand)
	if err != nil {
		return HelperResult{}, err
	}
	return HelperResult{Data: ct, PublicKey: priv.pub.Encode()}, nil
}

// HelperDecrypt is /ecdsa_helper/decrypt, the inverse of HelperEncrypt: publicKey is the sender's,
// privateKey the caller's. The plaintext must be UTF-8 text, since the endpoint answers it as a JSON
// string. Every error wraps ErrInvalidPublicKey, ErrInvalidPrivateKey or ErrInvalidCiphertext, and
// is the caller's fault.
func HelperDecrypt(data, publicKey, privateKey string) (HelperResult, error) {
	priv, key, err := helperKeys(publicKey, privateKey)
	if err != nil {
		return HelperResult{}, err
	}
	pt, err := Decrypt(key, data)
	if err != nil {
		return HelperResult{}, err
	}
	if !utf8.Valid(pt) {
		return HelperResult{}, fmt.Errorf("%w: decrypts to bytes that are not UTF-8 text", ErrInvalidCiphertext)
	}
	return HelperResult{Data: string(pt), PublicKey: priv.pub.Encode()}, nil
}

func helperKeys(publicKey, privateKey string) (PrivateKey, [SharedKeySize]byte, error) {
	pub, err := ParsePublicKey(publicKey)
	if err != nil {
		return PrivateKey{}, [SharedKeySize]byte{}, fmt.Errorf("publicKey: %w", err)
	}
	priv, err := ParsePrivateKey(privateKey)
	if err != nil {
		return PrivateKey{}, [SharedKeySize]byte{}, fmt.Errorf("privateKey: %w", err)
	}
	key, err := SharedKey(priv, pub)
	return priv, key, err
}
