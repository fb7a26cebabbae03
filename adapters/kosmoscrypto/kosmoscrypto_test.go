package kosmoscrypto_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/internal/testvectors"
)

// loadVectors reads the project's known answers for this package.
func loadVectors(t *testing.T) testvectors.ECDH { return testvectors.LoadECDH(t) }

func mustPriv(t *testing.T, s string) kosmoscrypto.PrivateKey {
	t.Helper()
	k, err := kosmoscrypto.ParsePrivateKey(s)
	if err != nil {
		t.Fatalf("ParsePrivateKey(%q): %v", s, err)
	}
	return k
}

func mustPub(t *testing.T, s string) kosmoscrypto.PublicKey {
	t.Helper()
	k, err := kosmoscrypto.ParsePublicKey(s)
	if err != nil {
		t.Fatalf("ParsePublicKey(%q): %v", s, err)
	}
	return k
}

func mustShared(t *testing.T, priv kosmoscrypto.PrivateKey, pub kosmoscrypto.PublicKey) [32]byte {
	t.Helper()
	k, err := kosmoscrypto.SharedKey(priv, pub)
	if err != nil {
		t.Fatalf("SharedKey: %v", err)
	}
	return k
}

func TestVectorKeys(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	for name, kp := range map[string]testvectors.Key{"service": v.ServiceKey, "caller": v.CallerKey} {
		priv := mustPriv(t, kp.Private)
		if got := priv.Encode(); got != kp.Private {
			t.Errorf("%s: private key re-encodes as %q, want %q", name, got, kp.Private)
		}
		if got := priv.PublicKey().Encode(); got != kp.Public {
			t.Errorf("%s: derived public key %q, want %q", name, got, kp.Public)
		}
		pub := mustPub(t, kp.Public)
		if pub.Bytes() != priv.PublicKey().Bytes() {
			t.Errorf("%s: parsed public key differs from the derived one", name)
		}
	}
}

func TestVectorSharedKeyFromBothSides(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	want := v.SharedKeyHex
	fromCaller := mustShared(t, mustPriv(t, v.CallerKey.Private), mustPub(t, v.ServiceKey.Public))
	fromService := mustShared(t, mustPriv(t, v.ServiceKey.Private), mustPub(t, v.CallerKey.Public))
	if got := hex.EncodeToString(fromCaller[:]); got != want {
		t.Errorf("caller side: shared key %s, want %s", got, want)
	}
	if got := hex.EncodeToString(fromService[:]); got != want {
		t.Errorf("service side: shared key %s, want %s", got, want)
	}
}

func TestVectorCases(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	key := mustShared(t, mustPriv(t, v.ServiceKey.Private), mustPub(t, v.CallerKey.Public))
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			iv, err := hex.DecodeString(c.IVHex)
			if err != nil || len(iv) != kosmoscrypto.IVSize {
				t.Fatalf("bad iv_hex %q", c.IVHex)
			}

			pt, err := kosmoscrypto.Decrypt(key, c.Ciphertext)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if string(pt) != c.Plaintext {
				t.Errorf("Decrypt = %q, want %q", pt, c.Plaintext)
			}

			// The IV comes from the rand reader, so the vector's IV reproduces its ciphertext.
			ct, err := kosmoscrypto.Encrypt(key, []byte(c.Plaintext), bytes.NewReader(iv))
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if ct != c.Ciphertext {
				t.Errorf("Encrypt = %q, want %q", ct, c.Ciphertext)
			}

			// The helper endpoint: the caller encrypts for the service, the service decrypts.
			enc, err := kosmoscrypto.HelperEncrypt(c.Plaintext, v.ServiceKey.Public, v.CallerKey.Private, bytes.NewReader(iv))
			if err != nil {
				t.Fatalf("HelperEncrypt: %v", err)
			}
			if enc.Data != c.Ciphertext || enc.PublicKey != v.CallerKey.Public {
				t.Errorf("HelperEncrypt = %+v, want data %q and the caller's public key", enc, c.Ciphertext)
			}
			dec, err := kosmoscrypto.HelperDecrypt(c.Ciphertext, v.CallerKey.Public, v.ServiceKey.Private)
			if err != nil {
				t.Fatalf("HelperDecrypt: %v", err)
			}
			if dec.Data != c.Plaintext || dec.PublicKey != v.ServiceKey.Public {
				t.Errorf("HelperDecrypt = %+v, want data %q and the service's public key", dec, c.Plaintext)
			}
		})
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestParsePrivateKeyRejects(t *testing.T) {
	t.Parallel()
	// n, the order of secp256k1.
	order, _ := hex.DecodeString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	orderPlusOne := bytes.Clone(order)
	orderPlusOne[31]++
	orderMinusOne := bytes.Clone(order)
	orderMinusOne[31]--

	cases := []struct {
		name, in, wantMsg string
	}{
		{"empty", "", "empty"},
		{"bad base64", "not*base64", "base64"},
		{"url alphabet", strings.ReplaceAll(strings.ReplaceAll(b64(bytes.Repeat([]byte{0xfb}, 32)), "+", "-"), "/", "_"), "base64"},
		{"31 bytes", b64(bytes.Repeat([]byte{1}, 31)), "must be 32 bytes, got 31"},
		{"33 bytes", b64(bytes.Repeat([]byte{1}, 33)), "must be 32 bytes, got 33"},
		{"zero", b64(make([]byte, 32)), "zero"},
		{"order", b64(order), "curve order"},
		{"order plus one", b64(orderPlusOne), "curve order"},
		{"all ones", b64(bytes.Repeat([]byte{0xff}, 32)), "curve order"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := kosmoscrypto.ParsePrivateKey(c.in)
			if !errors.Is(err, kosmoscrypto.ErrInvalidPrivateKey) {
				t.Fatalf("err = %v, want ErrInvalidPrivateKey", err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("err = %q, want it to mention %q", err, c.wantMsg)
			}
		})
	}

	if _, err := kosmoscrypto.ParsePrivateKey(b64(orderMinusOne)); err != nil {
		t.Errorf("n-1 is a valid scalar, got %v", err)
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	valid, _ := base64.StdEncoding.DecodeString(v.CallerKey.Public)
	offCurve := bytes.Clone(valid)
	offCurve[63] ^= 1
	sec1 := append([]byte{0x04}, valid...)
	compressed := append([]byte{0x02}, valid[:32]...)
	xTooBig := append(bytes.Repeat([]byte{0xff}, 32), valid[32:]...)

	cases := []struct {
		name, in, wantMsg string
	}{
		{"empty", "", "empty"},
		{"bad base64", "@@@@", "base64"},
		{"63 bytes", b64(valid[:63]), "must be 64 bytes (X‖Y), got 63"},
		{"sec1 prefix", b64(sec1), "without the 0x04 prefix"},
		{"compressed", b64(compressed), "got 33"},
		{"off curve", b64(offCurve), "not a point on secp256k1"},
		{"x above field prime", b64(xTooBig), "not a point on secp256k1"},
		{"zeros", b64(make([]byte, 64)), "not a point on secp256k1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := kosmoscrypto.ParsePublicKey(c.in)
			if !errors.Is(err, kosmoscrypto.ErrInvalidPublicKey) {
				t.Fatalf("err = %v, want ErrInvalidPublicKey", err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("err = %q, want it to mention %q", err, c.wantMsg)
			}
		})
	}
}

func TestGenerateKeyPairRoundTrip(t *testing.T) {
	t.Parallel()
	a, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if a.Public.Bytes() != a.Private.PublicKey().Bytes() {
		t.Fatal("KeyPair.Public is not the private key's public key")
	}
	// Keys survive their encoding.
	a2 := mustPriv(t, a.Private.Encode())
	if a2.Encode() != a.Private.Encode() || mustPub(t, a.Public.Encode()).Bytes() != a.Public.Bytes() {
		t.Fatal("keys do not survive Encode and Parse")
	}

	kab := mustShared(t, a.Private, b.Public)
	kba := mustShared(t, b.Private, a.Public)
	if kab != kba {
		t.Fatal("the two sides derive different keys")
	}

	for _, size := range []int{0, 1, 15, 16, 17, 1000, 64 << 10} {
		msg := make([]byte, size)
		_, _ = rand.Read(msg)
		ct, err := kosmoscrypto.Encrypt(kab, msg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(ct)
		if len(raw) != kosmoscrypto.IVSize+size+kosmoscrypto.TagSize {
			t.Errorf("size %d: wire length %d, want IV + plaintext + tag", size, len(raw))
		}
		pt, err := kosmoscrypto.Decrypt(kba, ct)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(pt, msg) {
			t.Fatalf("size %d: round trip changed the message", size)
		}
	}
}

func TestEncryptUsesFreshIVs(t *testing.T) {
	t.Parallel()
	var key [32]byte
	a, _ := kosmoscrypto.Encrypt(key, []byte("same"), rand.Reader)
	b, _ := kosmoscrypto.Encrypt(key, []byte("same"), rand.Reader)
	if a == b {
		t.Fatal("two encryptions of one message are equal: the IV is not random")
	}
}

func TestDecryptRejectsTampering(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	key := mustShared(t, mustPriv(t, v.ServiceKey.Private), mustPub(t, v.CallerKey.Public))
	raw, _ := base64.StdEncoding.DecodeString(v.Cases[0].Ciphertext)
	// Every byte matters: the IV, the ciphertext and the tag.
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		if _, err := kosmoscrypto.Decrypt(key, b64(bad)); !errors.Is(err, kosmoscrypto.ErrInvalidCiphertext) {
			t.Fatalf("flipping byte %d: err = %v, want ErrInvalidCiphertext", i, err)
		}
	}
	// Truncated and extended messages fail too.
	for _, bad := range [][]byte{raw[:len(raw)-1], append(bytes.Clone(raw), 0)} {
		if _, err := kosmoscrypto.Decrypt(key, b64(bad)); !errors.Is(err, kosmoscrypto.ErrInvalidCiphertext) {
			t.Fatalf("length %d: err = %v, want ErrInvalidCiphertext", len(bad), err)
		}
	}
}

func TestDecryptRejectsMalformedInput(t *testing.T) {
	t.Parallel()
	var key [32]byte
	cases := map[string]struct{ in, wantMsg string }{
		"empty":           {"", "too short"},
		"31 bytes":        {b64(make([]byte, 31)), "31 bytes is too short"},
		"bad base64":      {"!!!!", "base64"},
		"unpadded":        {strings.TrimRight(b64(make([]byte, 40)), "="), "base64"},
		"zero IV and tag": {b64(make([]byte, 32)), "authentication failed"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := kosmoscrypto.Decrypt(key, c.in)
			if !errors.Is(err, kosmoscrypto.ErrInvalidCiphertext) || !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("err = %v, want ErrInvalidCiphertext mentioning %q", err, c.wantMsg)
			}
		})
	}
}

func TestDecryptRejectsWrongKey(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	other, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A third party that knows the caller's public key derives another key.
	wrong := mustShared(t, other.Private, mustPub(t, v.CallerKey.Public))
	for _, c := range v.Cases {
		if _, err := kosmoscrypto.Decrypt(wrong, c.Ciphertext); !errors.Is(err, kosmoscrypto.ErrInvalidCiphertext) {
			t.Errorf("%s: err = %v, want ErrInvalidCiphertext", c.Name, err)
		}
	}
	if _, err := kosmoscrypto.HelperDecrypt(v.Cases[0].Ciphertext, v.CallerKey.Public, other.Private.Encode()); !errors.Is(err, kosmoscrypto.ErrInvalidCiphertext) {
		t.Errorf("helper: err = %v, want ErrInvalidCiphertext", err)
	}
}

func TestRandomnessFailures(t *testing.T) {
	t.Parallel()
	boom := errors.New("no entropy")
	if _, err := kosmoscrypto.GenerateKeyPair(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("GenerateKeyPair: err = %v, want the reader's error", err)
	}
	var key [32]byte
	if _, err := kosmoscrypto.Encrypt(key, []byte("x"), iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("Encrypt: err = %v, want the reader's error", err)
	}
	// A reader that runs dry before a whole IV must not produce a ciphertext.
	if _, err := kosmoscrypto.Encrypt(key, []byte("x"), bytes.NewReader(make([]byte, 15))); err == nil {
		t.Error("Encrypt with a 15-byte reader succeeded")
	}
}

func TestZeroKeys(t *testing.T) {
	t.Parallel()
	var priv kosmoscrypto.PrivateKey
	var pub kosmoscrypto.PublicKey
	if !priv.IsZero() || !pub.IsZero() || priv.Encode() != "" || pub.Encode() != "" {
		t.Fatal("zero keys must report IsZero and encode as empty")
	}
	kp, _ := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if _, err := kosmoscrypto.SharedKey(priv, kp.Public); !errors.Is(err, kosmoscrypto.ErrInvalidPrivateKey) {
		t.Errorf("zero private key: err = %v", err)
	}
	if _, err := kosmoscrypto.SharedKey(kp.Private, pub); !errors.Is(err, kosmoscrypto.ErrInvalidPublicKey) {
		t.Errorf("zero public key: err = %v", err)
	}
}

func TestPrivateKeyDoesNotPrint(t *testing.T) {
	t.Parallel()
	kp, _ := kosmoscrypto.GenerateKeyPair(rand.Reader)
	secret := kp.Private.Encode()
	for _, format := range []string{"%v", "%s", "%+v"} {
		if out := fmt.Sprintf(format, kp.Private); strings.Contains(out, secret) {
			t.Errorf("%s prints the private key", format)
		}
	}
	if kp.Public.String() != kp.Public.Encode() {
		t.Error("a public key prints as its encoding")
	}
}

func TestHelperRejectsBadKeys(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	cases := []struct {
		name, pub, priv string
		want            error
		field           string
	}{
		{"bad public", "AAAA", v.CallerKey.Private, kosmoscrypto.ErrInvalidPublicKey, "publicKey"},
		{"private as public", v.CallerKey.Private, v.CallerKey.Private, kosmoscrypto.ErrInvalidPublicKey, "publicKey"},
		{"bad private", v.ServiceKey.Public, "", kosmoscrypto.ErrInvalidPrivateKey, "privateKey"},
		{"public as private", v.ServiceKey.Public, v.ServiceKey.Public, kosmoscrypto.ErrInvalidPrivateKey, "privateKey"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := kosmoscrypto.HelperEncrypt("data", c.pub, c.priv, rand.Reader)
			if !errors.Is(err, c.want) || !strings.HasPrefix(err.Error(), c.field+": ") {
				t.Errorf("HelperEncrypt: err = %v, want %v naming %s", err, c.want, c.field)
			}
			_, err = kosmoscrypto.HelperDecrypt(v.Cases[0].Ciphertext, c.pub, c.priv)
			if !errors.Is(err, c.want) || !strings.HasPrefix(err.Error(), c.field+": ") {
				t.Errorf("HelperDecrypt: err = %v, want %v naming %s", err, c.want, c.field)
			}
		})
	}
}

func TestHelperDecryptRejectsBinaryPlaintext(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	key := mustShared(t, mustPriv(t, v.CallerKey.Private), mustPub(t, v.ServiceKey.Public))
	ct, err := kosmoscrypto.Encrypt(key, []byte{0xff, 0xfe, 0x00}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = kosmoscrypto.HelperDecrypt(ct, v.CallerKey.Public, v.ServiceKey.Private)
	if !errors.Is(err, kosmoscrypto.ErrInvalidCiphertext) || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("err = %v, want a UTF-8 complaint", err)
	}
}

func TestHelperRoundTripWithEmptyData(t *testing.T) {
	t.Parallel()
	a, _ := kosmoscrypto.GenerateKeyPair(rand.Reader)
	b, _ := kosmoscrypto.GenerateKeyPair(rand.Reader)
	enc, err := kosmoscrypto.HelperEncrypt("", b.Public.Encode(), a.Private.Encode(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := kosmoscrypto.HelperDecrypt(enc.Data, enc.PublicKey, b.Private.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if dec.Data != "" {
		t.Fatalf("round trip of empty data gave %q", dec.Data)
	}
}

// BenchmarkSharedKey is the ECDH that kosmosauth caches per caller: too slow to pay per request.
func BenchmarkSharedKey(b *testing.B) {
	a, _ := kosmoscrypto.GenerateKeyPair(rand.Reader)
	c, _ := kosmoscrypto.GenerateKeyPair(rand.Reader)
	for b.Loop() {
		if _, err := kosmoscrypto.SharedKey(a.Private, c.Public); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePublicKey is the other cost a cache hit avoids.
func BenchmarkParsePublicKey(b *testing.B) {
	c, _ := kosmoscrypto.GenerateKeyPair(rand.Reader)
	s := c.Public.Encode()
	for b.Loop() {
		if _, err := kosmoscrypto.ParsePublicKey(s); err != nil {
			b.Fatal(err)
		}
	}
}
