package main

import (
	"context"
	"sync"
	"time"

	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/projections/servicekeyview"
)

// keyringRefresh is how long the opened service key is used before the read model is asked whether
// it changed. A reset on this node invalidates it at once; one on another node sharing the log is
// seen within this time.
const keyringRefresh = time.Second

// keyring gives the authentication the service's private key from memory, as it asks on every
// request: opening and parsing the sealed key each time would cost more than the rest of the check.
type keyring struct {
	view  *servicekeyview.View
	codec *eventcodec.Codec
	clock func() time.Time

	mu      sync.Mutex
	keyID   string
	key     kosmoscrypto.PrivateKey
	checked time.Time
}

// ServicePrivateKey implements kosmosauth.ServiceKeys.
func (k *keyring) ServicePrivateKey(ctx context.Context) (kosmoscrypto.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.clock()
	if !k.key.IsZero() && now.Sub(k.checked) < keyringRefresh {
		return k.key, nil
	}
	v, err := k.view.Get(ctx, servicekey.PrimarySlot)
	if err != nil {
		return kosmoscrypto.PrivateKey{}, err
	}
	if v.KeyID != k.keyID || k.key.IsZero() {
		plain, err := k.codec.OpenSecret(v.PrivateKey, v.Stream)
		if err != nil {
			return kosmoscrypto.PrivateKey{}, err
		}
		key, err := kosmoscrypto.ParsePrivateKey(plain)
		if err != nil {
			return kosmoscrypto.PrivateKey{}, err
		}
		k.keyID, k.key = v.KeyID, key
	}
	k.checked = now
	return k.key, nil
}

// invalidate makes the next request read the key again: called after a reset on this node.
func (k *keyring) invalidate() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.checked = time.Time{}
}
