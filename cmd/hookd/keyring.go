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
	checked time.Time
}

// ServicePrivateKey implements kosmosauth.ServiceKeys.
func (k *keyring) ServicePrivateKey(ctx context.Context) (kosmoscrypto.PrivateKey, error) {
	cur := k.current.Load()
	if cur != nil && k.clock().Sub(cur.checked) < keyringRefresh {
		return cur.key, nil
	}
	if cur != nil && !k.refreshing.TryLock() {
		return cur.key, nil // another request is refreshing; this one uses the key it has
	}
	if cur == nil {
		k.refreshing.Lock()
	}
	defer k.refreshing.Unlock()
	next, err := k.read(ctx, k.current.Load())
	if err != nil {
		if cur != nil {
			return cur.key, nil // a failed refresh keeps the key that worked until now
		}
		return kosmoscrypto.PrivateKey{}, err
	}
	k.current.Store(next)
	return next.key, nil
}

// read asks the read model for the key, and opens it only when it changed.
func (k *keyring) read(ctx context.Context, cur *openedKey) (*openedKey, error) {
	v, err := k.view.Get(ctx, servicekey.PrimarySlot)
	if err != nil {
		return nil, err
	}
	now := k.clock()
	if cur != nil && cur.id == v.KeyID {
		return &openedKey{id: cur.id, key: cur.key, checked: now}, nil
	}
	plain, err := k.codec.OpenSecret(v.PrivateKey, v.Stream)
	if err != nil {
		return nil, err
	}
	key, err := kosmoscrypto.ParsePrivateKey(plain)
	if err != nil {
		return nil, err
	}
	return &openedKey{id: v.KeyID, key: key, checked: now}, nil
}

// invalidate makes the next request read the key again: called after a reset on this node. It holds
// the refresh lock, so that a refresh that read the key before the reset cannot store it after.
func (k *keyring) invalidate() {
	k.refreshing.Lock()
	defer k.refreshing.Unlock()
	if cur := k.current.Load(); cur != nil {
		k.current.Store(&openedKey{id: cur.id, key: cur.key})
	}
}
