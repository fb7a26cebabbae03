// Package testvectors serves the project's known answers to tests. The files live in testdata/ and are
// compiled into the test binaries, so a clone with nothing beside it has them; testdata/README.md says
// where each came from. It is test support: nothing outside tests imports it.
package testvectors

import (
	"embed"
	"encoding/json"
	"testing"
)

//go:embed testdata/*.json
var files embed.FS

// Load decodes the vector file name (such as "ecdh-aes-secp256k1.json") into v, failing the test when
// the file is missing or malformed: a known answer that cannot be read is a failure, never a skip.
func Load(tb testing.TB, name string, v any) {
	tb.Helper()
	raw, err := files.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatalf("testvectors: %v", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		tb.Fatalf("testvectors: parse %s: %v", name, err)
	}
}

// Key is a key pair in 1Kosmos's encoding.
type Key struct {
	Private string `json:"private"`
	Public  string `json:"public"`
}

// ECDH is ecdh-aes-secp256k1.json: 1Kosmos's ECDH on secp256k1 with AES-256-GCM.
type ECDH struct {
	ServiceKey   Key    `json:"service_key"`
	CallerKey    Key    `json:"caller_key"`
	SharedKeyHex string `json:"shared_key_hex"`
	Cases        []struct {
		Name       string `json:"name"`
		IVHex      string `json:"iv_hex"`
		Plaintext  string `json:"plaintext"`
		Ciphertext string `json:"ciphertext"`
	} `json:"cases"`
}

// LoadECDH reads ecdh-aes-secp256k1.json and fails the test when it holds no case.
func LoadECDH(tb testing.TB) ECDH {
	tb.Helper()
	var v ECDH
	Load(tb, "ecdh-aes-secp256k1.json", &v)
	if len(v.Cases) == 0 {
		tb.Fatal("testvectors: ecdh-aes-secp256k1.json has no cases")
	}
	return v
}
