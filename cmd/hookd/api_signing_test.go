package main

// Component tests of the service's delivery signing key: created once, published at /.well-known,
// usable by receivers with nothing but the published key, and reset through DELETE /servicekey.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/domain/servicekey"
)

type apiWellKnownJSON struct {
	PublicKey          string `json:"public_key"`
	WebhookSigningKeys []struct {
		KeyID     string `json:"keyId"`
		Type      string `json:"type"`
		PublicKey string `json:"publicKey"`
	} `json:"webhook_signing_keys"`
}

// apiPublishedSigningKey reads /.well-known, checks it lists exactly one ed25519 key, and returns
// its id and the key, decoded by hand from the whpk_ form as a receiver would.
func apiPublishedSigningKey(h *testHookd) (string, ed25519.PublicKey) {
	h.t.Helper()
	var known apiWellKnownJSON
	h.mustJSON(h.do(http.MethodGet, "/.well-known", nil, nil), http.StatusOK, &known)
	if len(known.WebhookSigningKeys) != 1 {
		h.t.Fatalf("/.well-known lists %d signing keys, want 1: %+v", len(known.WebhookSigningKeys), known)
	}
	k := known.WebhookSigningKeys[0]
	rest, ok := strings.CutPrefix(k.PublicKey, "whpk_")
	raw, err := base64.StdEncoding.DecodeString(rest)
	if !ok || err != nil || len(raw) != ed25519.PublicKeySize || k.Type != "ed25519" || k.KeyID == "" {
		h.t.Fatalf("/.well-known signing key %+v: want a key id, type ed25519 and whpk_ with 32 bytes of base64 (%v)", k, err)
	}
	return k.KeyID, ed25519.PublicKey(raw)
}

// apiSigns reports whether a v1a signature made with the private key in keySecret (as /servicekeys
// shows it) verifies against pub.
func apiSigns(t *testing.T, keySecret string, pub ed25519.PublicKey) bool {
	t.Helper()
	key, err := webhooksig.ParseSigningKey(keySecret)
	if err != nil {
		t.Fatalf("signing keySecret: %v", err)
	}
	body := []byte(`{"version":1,"event":"USER_REGISTER_SUCCESS","payload":{"user_id":"u1"}}`)
	entry := webhooksig.StandardV1a(key, "msg_2p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
	sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(entry, "v1a,"))
	if err != nil {
		t.Fatalf("v1a entry %q: %v", entry, err)
	}
	return ed25519.Verify(pub, []byte("msg_2p5jXN8AQM9LWM0D4loKWxJek.1614265330."+string(body)), sig)
}

// apiStreamLength counts the events of stream in the data directory's log.
func apiStreamLength(t *testing.T, dataDir, stream string) int {
	t.Helper()
	store, err := sqlitestore.Open(context.Background(), filepath.Join(dataDir, logFile), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	events, err := store.ReadStream(context.Background(), stream, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

func TestSigningKeyIsCreatedOnceAndPublished(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHookdIn(t, dir, nil)
	signing := apiServiceKeys(h)["signing"]
	if signing.Type != "ed25519" {
		t.Errorf("signing key of type %q, want ed25519", signing.Type)
	}
	id, pub := apiPublishedSigningKey(h)
	if id != signing.KeyID || signing.PublicKey != base64.StdEncoding.EncodeToString(pub) {
		t.Fatalf("/.well-known publishes %s %x; /servicekeys has %s %s", id, pub, signing.KeyID, signing.PublicKey)
	}
	if !apiSigns(t, signing.KeySecret, pub) {
		t.Fatal("a v1a signature with the signing key does not verify against the published key")
	}
	_, other, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if apiSigns(t, base64.StdEncoding.EncodeToString(other.Seed()), pub) {
		t.Fatal("a signature with another key verifies against the published key")
	}
	h.stop()

	// A restart keeps the key, and writes no second one.
	h = startHookdIn(t, dir, nil)
	if again := apiServiceKeys(h)["signing"]; again != signing {
		t.Errorf("after restart the signing key is %+v, want %+v", again, signing)
	}
	if againID, againPub := apiPublishedSigningKey(h); againID != id || !againPub.Equal(pub) {
		t.Errorf("after restart /.well-known publishes %s %x, want %s %x", againID, againPub, id, pub)
	}
	h.stop()
	if n := apiStreamLength(t, dir, servicekey.Stream(servicekey.SigningSlot)); n != 1 {
		t.Errorf("the signing key's stream holds %d events after two starts, want 1", n)
	}
}

func TestSigningKeyReset(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHookdIn(t, dir, nil)
	before := apiServiceKeys(h)
	old := before["signing"]
	servicePub := h.servicePublicKey()

	var reset []apiServiceKeyJSON
	h.mustJSON(h.system(http.MethodDelete, "/servicekey/"+old.KeyID, nil), http.StatusOK, &reset)
	if len(reset) != 1 {
		t.Fatalf("reset answered %d keys, want the new one", len(reset))
	}
	fresh := reset[0]
	if fresh.Tag != "signing" || fresh.Type != "ed25519" || fresh.KeyID == old.KeyID || fresh.KeySecret == old.KeySecret {
		t.Fatalf("reset answered %+v; want a new ed25519 key in slot signing (was %s)", fresh, old.KeyID)
	}

	// /.well-known follows at once, and only the new key verifies against what it publishes.
	id, pub := apiPublishedSigningKey(h)
	if id != fresh.KeyID || fresh.PublicKey != base64.StdEncoding.EncodeToString(pub) {
		t.Fatalf("after reset /.well-known publishes %s %x, want %s %s", id, pub, fresh.KeyID, fresh.PublicKey)
	}
	if !apiSigns(t, fresh.KeySecret, pub) {
		t.Error("the new key's signature does not verify against the published key")
	}
	if apiSigns(t, old.KeySecret, pub) {
		t.Error("the old key's signature verifies against the published key")
	}

	// The service key is another slot: untouched, and authentication goes on with it.
	after := apiServiceKeys(h)
	if h.servicePublicKey() != servicePub || after["primary"] != before["primary"] || after["signing"] != fresh {
		t.Errorf("service keys after resetting the signing key: %+v, want primary unchanged and signing %s", after, fresh.KeyID)
	}
	apiWantError(t, h.system(http.MethodDelete, "/servicekey/"+old.KeyID, nil), http.StatusNotFound)

	h.stop()
	h = startHookdIn(t, dir, nil)
	if id, pub := apiPublishedSigningKey(h); id != fresh.KeyID || !apiSigns(t, fresh.KeySecret, pub) {
		t.Errorf("after restart /.well-known publishes %s, want the reset key %s", id, fresh.KeyID)
	}
}
