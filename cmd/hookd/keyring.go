package main

import (
	"context"
	"sync"
	"sync/atomic"
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
// Requests read the key without a lock; one of them at a time refreshes it when it is due, while the
// others go on with the key they have.
type keyring struct {
	view  *servicekeyview.View
	codec *eventcodec.Codec
	clock func() time.Time

	current    atomic.Pointer[openedKey]
	refreshing sync.Mutex
}

// openedKey is the service key as last read, and when it was read.
type openedKey struct {
	id      string
	key     kosmoscrypto.PrivateKey
	public  string
	checked time.Time
}

// ServicePrivateKey implements kosmosauth.ServiceKeys.
func (k *keyring) ServicePrivateKey(ctx context.Context) (kosmoscrypto.PrivateKey, error) {
	cur, err := k.get(ctx)
	if err != nil {
		return kosmoscrypto.PrivateKey{}, err
	}
	return cur.key, nil
}

// ServicePublicKey is the public half, as /publickeys publishes it: always the key that
// authentication decrypts with.
func (k *keyring) ServicePublicKey(ctx context.Context) (string, error) {
	cur, err := k.get(ctx)
	if err != nil {
		return "", err
	}
	return cur.public, nil
}

func (k *keyring) get(ctx context.Context) (*openedKey, error) {
	cur := k.current.Load()
	if cur != nil && k.clock().Sub(cur.checked) < keyringRefresh {
		return cur, nil
	}
	if cur != nil && !k.refreshing.TryLock() {
		return cur, nil // another request is refreshing; this one uses the key it has
	}
	if cur == nil {
		k.refreshing.Lock()
	}
	defer k.refreshing.Unlock()
	next, err := k.read(ctx, k.current.Load())
	if err != nil {
		if cur != nil {
			return cur, nil // a failed refresh keeps the key that worked until now
		}
		return nil, err
	}
	k.current.Store(next)
	return next, nil
}

// read asks the read model for the key, and opens it only when it changed.
func (k *keyring) read(ctx context.Context, cur *openedKey) (*openedKey, error) {
	v, err := k.view.Get(ctx, servicekey.PrimarySlot)
	if err != nil {
		return nil, err
	}
	now := k.clock()
	if cur != nil && cur.id == v.KeyID {
		return &openedKey{id: cur.id, key: cur.key, public: cur.public, checked: now}, nil
	}
	plain, err := k.codec.OpenSecret(v.PrivateKey, v.Stream)
	if err != nil {
		return nil, err
	}
	key, err := kosmoscrypto.ParsePrivateKey(plain)
	if err != nil {
		return nil, err
	}
	return &openedKey{id: v.KeyID, key: key, public: key.PublicKey().Encode(), checked: now}, nil
}

// invalidate makes the next request read the key again: called after a reset on this node. It holds
// the refresh lock, so that a refresh that read the key before the reset cannot store it after.
func (k *keyring) invalidate() {
	k.refreshing.Lock()
	defer k.refreshing.Unlock()
	if cur := k.current.Load(); cur != nil {
		k.current.Store(&openedKey{id: cur.id, key: cur.key, public: cur.public})
	}
}
