package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/projections/servicekeyview"
)

// keyringNode is a node on a fresh data directory with its read models set up and running, as serve
// has it, without the API.
func keyringNode(t *testing.T) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := openNode(ctx, testConfig(t, t.TempDir(), nil), slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.runProjections(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("projections: %v", err)
		}
		if err := n.close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := n.waitFor(ctx, eventlog.Start); err != nil {
		t.Fatal(err)
	}
	return n
}

// manualClock is a clock a test moves by hand.
type manualClock struct{ now atomic.Int64 }

func (c *manualClock) time() time.Time         { return time.Unix(0, c.now.Load()) }
func (c *manualClock) advance(d time.Duration) { c.now.Add(int64(d)) }

func TestKeyringSigningKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := keyringNode(t)
	clock := &manualClock{}
	clock.now.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	keys := newKeyring(n.keyView, n.codec, clock.time)

	if _, _, err := keys.SigningKey(ctx); !errors.Is(err, servicekeyview.ErrNotFound) {
		t.Fatalf("SigningKey before the key exists = %v, want servicekeyview.ErrNotFound", err)
	}
	pair, res, err := n.serviceKeys.Ensure(ctx, servicekey.SigningSlot, systemCaller)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.waitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}

	key, id, err := keys.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id != pair.KeyID || base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)) != pair.PublicKey {
		t.Fatalf("SigningKey = %s with public %x; the log has %s with %s", id, key.Public(), pair.KeyID, pair.PublicKey)
	}
	published, err := keys.SigningPublicKey(ctx)
	if err != nil || published.KeyID != id || !published.Key.Equal(key.Public()) {
		t.Fatalf("SigningPublicKey = %+v, %v; want %s and the key's public half", published, err, id)
	}
	body := []byte(`{"version":1,"event":"E","payload":{}}`)
	sig, err := base64.StdEncoding.DecodeString(webhooksig.StandardV1a(key, "msg_1", 1, body)[len("v1a,"):])
	if err != nil || !ed25519.Verify(published.Key, []byte("msg_1.1."+string(body)), sig) {
		t.Fatalf("a v1a signature with SigningKey does not verify against SigningPublicKey (%v)", err)
	}
	// From memory: the same key, not one opened and parsed again.
	if again, _, err := keys.SigningKey(ctx); err != nil || &again[0] != &key[0] {
		t.Error("a second SigningKey did not answer from the cache")
	}

	// A reset is not seen from the cache at once...
	_, next, res, err := n.serviceKeys.ResetKey(ctx, id, systemCaller)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.waitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}
	if _, got, _ := keys.SigningKey(ctx); got != id {
		t.Fatalf("SigningKey right after a reset elsewhere = %s, want the cached %s", got, id)
	}
	// ...but once the refresh is due (a reset on another node) or at once after invalidate (a reset
	// on this node).
	other := newKeyring(n.keyView, n.codec, clock.time)
	if _, got, _ := other.SigningKey(ctx); got != next.KeyID {
		t.Fatalf("a fresh keyring gives %s, want %s", got, next.KeyID)
	}
	keys.invalidate()
	if _, got, err := keys.SigningKey(ctx); err != nil || got != next.KeyID {
		t.Fatalf("SigningKey after invalidate = %s, %v; want %s", got, err, next.KeyID)
	}
	_, latest, res, err := n.serviceKeys.ResetKey(ctx, next.KeyID, systemCaller)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.waitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}
	clock.advance(keyringRefresh)
	if _, got, err := other.SigningKey(ctx); err != nil || got != latest.KeyID {
		t.Fatalf("SigningKey a refresh period after a reset = %s, %v; want %s", got, err, latest.KeyID)
	}
	if p, err := other.SigningPublicKey(ctx); err != nil || p.KeyID != latest.KeyID {
		t.Fatalf("SigningPublicKey after the refresh = %+v, %v; want %s", p, err, latest.KeyID)
	}
}

// Deliveries ask for the key from many goroutines while resets invalidate it: each gets a whole,
// usable key (the race detector checks the rest).
func TestKeyringSigningKeyUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := keyringNode(t)
	if _, res, err := n.serviceKeys.Ensure(ctx, servicekey.SigningSlot, systemCaller); err != nil {
		t.Fatal(err)
	} else if err := n.waitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}
	keys := newKeyring(n.keyView, n.codec, time.Now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				key, id, err := keys.SigningKey(ctx)
				if err != nil || id == "" || len(key) != ed25519.PrivateKeySize {
					t.Errorf("SigningKey = %d bytes, %q, %v", len(key), id, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			keys.invalidate()
		}
	})
	wg.Wait()
}
