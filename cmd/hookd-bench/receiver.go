package main

import (
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd/adapters/webhooksig"
)

// receiver is the webhooks' target. It verifies every delivery's three signatures (Cosmo's
// X-Cosmo-Signature-256, Standard Webhooks v1 with the secret of the webhook its event was published
// to and v1a with the key /.well-known publishes) and records the first receipt of each webhook-id
// in the ledger. It always answers 200: a failed check is counted, not retried.
type receiver struct {
	// secrets are the webhooks' secrets in the order webhookOf numbers them, batch the events per
	// request: a delivery that verifies with another webhook's secret went to the wrong webhook.
	secrets    []string
	batch      int
	signingKey ed25519.PublicKey
	run        string
	ledger     *ledger

	mu   sync.Mutex
	seen map[string]struct{}

	duplicates, signatureFailures, foreign atomic.Int64
}

// deliveredBody is the part of a delivery body the receiver reads: the event's place in this run.
type deliveredBody struct {
	Payload struct {
		Run string `json:"run"`
		Seq *int   `json:"seq"`
	} `json:"payload"`
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	if err != nil {
		r.foreign.Add(1)
		w.WriteHeader(http.StatusOK)
		return
	}
	var d deliveredBody
	if json.Unmarshal(body, &d) != nil || d.Payload.Run != r.run || d.Payload.Seq == nil || *d.Payload.Seq < 0 {
		r.foreign.Add(1)
		w.WriteHeader(http.StatusOK)
		return
	}
	if !verified(r.secrets[webhookOf(*d.Payload.Seq, r.batch, len(r.secrets))], r.signingKey, req.Header, body) {
		r.signatureFailures.Add(1)
	}
	if !r.firstOf(req.Header.Get(webhooksig.HeaderID)) || !r.ledger.receive(*d.Payload.Seq, at) {
		r.duplicates.Add(1)
	}
	w.WriteHeader(http.StatusOK)
}

// firstOf reports whether id is a webhook-id not seen before.
func (r *receiver) firstOf(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[id]; ok {
		return false
	}
	r.seen[id] = struct{}{}
	return true
}

// verified checks all three signatures as a receiver would: each present and each matching.
func verified(secret string, signingKey ed25519.PublicKey, h http.Header, body []byte) bool {
	if !hmac.Equal([]byte(h.Get(webhooksig.HeaderCosmo)), []byte(webhooksig.CosmoSignature(secret, body))) {
		return false
	}
	id, tsText := h.Get(webhooksig.HeaderID), h.Get(webhooksig.HeaderTimestamp)
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if id == "" || err != nil {
		return false
	}
	wantV1, err := webhooksig.StandardV1(secret, id, ts, body)
	if err != nil {
		return false
	}
	signed := make([]byte, 0, len(id)+len(tsText)+len(body)+2)
	signed = append(append(append(append(append(signed, id...), '.'), tsText...), '.'), body...)
	var v1, v1a bool
	for _, entry := range strings.Fields(h.Get(webhooksig.HeaderSignature)) {
		switch {
		case strings.HasPrefix(entry, "v1,"):
			v1 = v1 || hmac.Equal([]byte(entry), []byte(wantV1))
		case strings.HasPrefix(entry, "v1a,"):
			sig, err := base64.StdEncoding.DecodeString(entry[len("v1a,"):])
			v1a = v1a || err == nil && ed25519.Verify(signingKey, signed, sig)
		}
	}
	return v1 && v1a
}
