// Package testvectors reads the project's known answers, ../shared/vectors beside the module root, for
// tests. It is test support: nothing outside tests imports it.
package testvectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Load decodes the vector file name (such as "ecdh-aes-secp256k1.json") into v, failing the test when
// the file is missing or malformed: a known answer that cannot be read is a failure, never a skip.
func Load(tb testing.TB, name string, v any) {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("testvectors: no go.mod above the test's directory, so no ../shared/vectors")
		}
		dir = parent
	}
	path := filepath.Join(dir, "..", "shared", "vectors", name)
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("testvectors: %v (the known answers live beside the module root, in ../shared/vectors)", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		tb.Fatalf("testvectors: parse %s: %v", path, err)
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
