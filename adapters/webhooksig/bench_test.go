package webhooksig_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hookd/hookd/adapters/webhooksig"
)

// benchPayload is a ~1 KiB event payload shaped like Cosmo's: nested objects, strings, numbers, booleans,
// an array, and one object with index keys so the rewrite path is part of the figure.
func benchPayload(tb testing.TB) json.RawMessage {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"federated_graph":{"id":"3f1c2a9e-6d7b-4c1e-9a52-1b8e2f0c7d44","name":"MainGraph","namespace":"default",`)
	b.WriteString(`"routing_url":"https://router.example.com/graphql"},"errors":false,"actor_id":"user5678",`)
	b.WriteString(`"counts":{"2":12,"1":7,"total":19},"ratio":0.125,"big":1.5E3,"labels":[`)
	for i := range 12 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":"team-%02d","value":"platform \u00e9quipe %d","weight":%d.50}`, i, i, i)
	}
	b.WriteString(`],"note":"<b>Tom & Jerry</b> \n tab\t done"}`)
	p := json.RawMessage(b.String())
	if n := len(p); n < 900 || n > 1200 {
		tb.Fatalf("bench payload is %d bytes, want about 1 KiB", n)
	}
	return p
}

func BenchmarkBody(b *testing.B) {
	p := benchPayload(b)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhooksig.Body("FEDERATED_GRAPH_SCHEMA_UPDATED", p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignAll is what one attempt costs in signatures: Cosmo, two v1 entries (rotation) and v1a.
func BenchmarkSignAll(b *testing.B) {
	body, err := webhooksig.Body("FEDERATED_GRAPH_SCHEMA_UPDATED", benchPayload(b))
	if err != nil {
		b.Fatal(err)
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = webhooksig.CosmoSignature("cosmo-webhook-secret", body)
		v1, _ := webhooksig.StandardV1("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "dlv_1", 1614265330, body)
		v1old, _ := webhooksig.StandardV1("old-plain-secret", "dlv_1", 1614265330, body)
		_ = webhooksig.SignatureHeader(v1, v1old, webhooksig.StandardV1a(key, "dlv_1", 1614265330, body))
	}
}

// BenchmarkEncodingJSONCompact is a reference point: encoding/json's Compact does less work (no number
// or key canonicalisation), so Body should stay within a small factor of it.
func BenchmarkEncodingJSONCompact(b *testing.B) {
	p := benchPayload(b)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := json.Compact(&buf, p); err != nil {
			b.Fatal(err)
		}
	}
}
