package webhooksig_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/hookd/hookd/adapters/webhooksig"
)

// rfc8032Test1 is RFC 8032 section 7.1, TEST 1: a private key (the seed) and its public key.
var rfc8032Test1 = struct{ seed, public string }{
	seed:   "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGenerateSigningKeyKnownAnswer(t *testing.T) {
	t.Parallel()
	seed, public := unhex(t, rfc8032Test1.seed), unhex(t, rfc8032Test1.public)
	// ed25519.GenerateKey reads exactly the seed from its random source.
	pub, priv, err := webhooksig.GenerateSigningKey(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.StdEncoding.EncodeToString(public); pub != want {
		t.Errorf("public = %s, want %s", pub, want)
	}
	if want := base64.StdEncoding.EncodeToString(seed); priv != want {
		t.Errorf("private = %s, want the base64 of the 32-byte seed %s", priv, want)
	}
	key, err := webhooksig.ParseSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if got := key.Public().(ed25519.PublicKey); !bytes.Equal(got, public) {
		t.Errorf("parsed key's public half = %x, want %x", got, public)
	}
	if got, want := webhooksig.PublicKeyString(key.Public().(ed25519.PublicKey)), "whpk_"+base64.StdEncoding.EncodeToString(public); got != want {
		t.Errorf("PublicKeyString = %s, want %s", got, want)
	}
}

// A receiver holding only the whpk_ string verifies what the parsed private key signs.
func TestSigningKeyRoundTripVerifiesWithPublishedKey(t *testing.T) {
	t.Parallel()
	_, priv, err := webhooksig.GenerateSigningKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := webhooksig.ParseSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	published := webhooksig.PublicKeyString(key.Public().(ed25519.PublicKey))

	rest, ok := strings.CutPrefix(published, "whpk_")
	if !ok {
		t.Fatalf("published key %q lacks whpk_", published)
	}
	pub, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("published key %q: %d bytes, %v", published, len(pub), err)
	}
	body := []byte(`{"version":1,"event":"E","payload":{}}`)
	entry := webhooksig.StandardV1a(key, "msg_1", 1700000000, body)
	sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(entry, "v1a,"))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub, []byte("msg_1.1700000000."+string(body)), sig) {
		t.Fatal("the signature does not verify against the published key")
	}
	if ed25519.Verify(pub, []byte("msg_1.1700000001."+string(body)), sig) {
		t.Fatal("the signature verifies over another timestamp")
	}
}

func TestParseSigningKeyRejects(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"empty":         "",
		"not base64":    "not*base64",
		"too short":     base64.StdEncoding.EncodeToString(make([]byte, 31)),
		"64-byte form":  base64.StdEncoding.EncodeToString(make([]byte, ed25519.PrivateKeySize)),
		"url alphabet":  base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)),
		"whpk_ instead": "whpk_" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if key, err := webhooksig.ParseSigningKey(in); !errors.Is(err, webhooksig.ErrInvalidSigningKey) || key != nil {
				t.Errorf("ParseSigningKey(%q) = %x, %v; want ErrInvalidSigningKey", in, key, err)
			}
		})
	}
}
