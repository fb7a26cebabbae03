package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd/adapters/httpapi"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/adapters/webhooksig"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/servicekey"
	"github.com/hookd/hookd/projections/servicekeyview"
)

// keyringRefresh is how long an opened key is used before the read model is asked whether it
// changed. A reset on this node invalidates it at once; one on another node sharing the log is seen
// within this time.
const keyringRefresh = time.Second

// keyring gives the service's private keys from memory: authentication asks for the service key on
// every request, and the deliverer for the signing key on every delivery, and opening and parsing a
// sealed key each time would cost more than the rest of either.
type keyring struct {
	service *slotKey[serviceKey]
	signing *slotKey[ed25519.PrivateKey]
}

// serviceKey is the opened service key with its public half, encoded once: /publickeys and every
// fetch answer publish it.
type serviceKey struct {
	private kosmoscrypto.PrivateKey
	public  string
}

func newKeyring(view *servicekeyview.View, codec *eventcodec.Codec, clock func() time.Time) *keyring {
	return &keyring{
		service: &slotKey[serviceKey]{view: view, codec: codec, clock: clock, slot: servicekey.PrimarySlot,
			parse: func(typ, plain string) (serviceKey, error) {
				if typ != kosmoscrypto.CurveName {
					return serviceKey{}, fmt.Errorf("the service key is of type %q, want %q", typ, kosmoscrypto.CurveName)
				}
				k, err := kosmoscrypto.ParsePrivateKey(plain)
				if err != nil {
					return serviceKey{}, err
				}
				return serviceKey{private: k, public: k.PublicKey().Encode()}, nil
			}},
		signing: &slotKey[ed25519.PrivateKey]{view: view, codec: codec, clock: clock, slot: servicekey.SigningSlot,
			parse: func(typ, plain string) (ed25519.PrivateKey, error) {
				if typ != webhooksig.SigningKeyType {
					return nil, fmt.Errorf("the signing key is of type %q, want %q", typ, webhooksig.SigningKeyType)
				}
				return webhooksig.ParseSigningKey(plain)
			}},
	}
}

// ServicePrivateKey implements kosmosauth.ServiceKeys.
func (k *keyring) ServicePrivateKey(ctx context.Context) (kosmoscrypto.PrivateKey, error) {
	cur, err := k.service.get(ctx)
	if err != nil {
		return kosmoscrypto.PrivateKey{}, err
	}
	return cur.key.private, nil
}

// ServicePublicKey is the public half, as /publickeys publishes it: always the key that
// authentication decrypts with.
func (k *keyring) ServicePublicKey(ctx context.Context) (string, error) {
	cur, err := k.service.get(ctx)
	if err != nil {
		return "", err
	}
	return cur.key.public, nil
}

// SigningKey is the service's ed25519 signing key, for webhooksig.StandardV1a, and its key id. It
// answers from memory, so a deliverer can ask for every delivery. Callers must not modify the key:
// it is shared. Before the first start has created the key it fails with servicekeyview.ErrNotFound.
func (k *keyring) SigningKey(ctx context.Context) (ed25519.PrivateKey, string, error) {
	cur, err := k.signing.get(ctx)
	if err != nil {
		return nil, "", err
	}
	return cur.key, cur.id, nil
}

// SigningPublicKey is the public half of SigningKey, as /.well-known publishes it: always the key
// deliveries are signed with.
func (k *keyring) SigningPublicKey(ctx context.Context) (httpapi.SigningPublicKey, error) {
	cur, err := k.signing.get(ctx)
	if err != nil {
		return httpapi.SigningPublicKey{}, err
	}
	return httpapi.SigningPublicKey{KeyID: cur.id, Key: cur.key.Public().(ed25519.PublicKey)}, nil
}

// invalidate makes the next use of every key read it again: called after a reset on this node.
func (k *keyring) invalidate() {
	k.service.invalidate()
	k.signing.invalidate()
}

// slotKey caches the opened private key of one slot. Readers take the key without a lock; one of
// them at a time refreshes it when it is due, while the others go on with the key they have.
type slotKey[K any] struct {
	view  *servicekeyview.View
	codec *eventcodec.Codec
	clock func() time.Time
	slot  string
	// parse turns the slot's opened private key, of the type the read model names, into K.
	parse func(typ, plain string) (K, error)

	current    atomic.Pointer[openedKey[K]]
	refreshing sync.Mutex
}

// openedKey is a slot's key as last read, and when it was read.
type openedKey[K any] struct {
	id      string
	key     K
	checked time.Time
}

func (s *slotKey[K]) get(ctx context.Context) (*openedKey[K], error) {
	cur := s.current.Load()
	if cur != nil && s.clock().Sub(cur.checked) < keyringRefresh {
		return cur, nil
	}
	if cur != nil && !s.refreshing.TryLock() {
		return cur, nil // another caller is refreshing; this one uses the key it has
	}
	if cur == nil {
		s.refreshing.Lock()
	}
	defer s.refreshing.Unlock()
	next, err := s.read(ctx, s.current.Load())
	if err != nil {
		if cur != nil {
			return cur, nil // a failed refresh keeps the key that worked until now
		}
		return nil, err
	}
	s.current.Store(next)
	return next, nil
}

// read asks the read model for the key, and opens it only when it changed.
func (s *slotKey[K]) read(ctx context.Context, cur *openedKey[K]) (*openedKey[K], error) {
	v, err := s.view.Get(ctx, s.slot)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	if cur != nil && cur.id == v.KeyID {
		return &openedKey[K]{id: cur.id, key: cur.key, checked: now}, nil
	}
	plain, err := s.codec.OpenSecret(v.PrivateKey, v.Stream)
	if err != nil {
		return nil, err
	}
	key, err := s.parse(v.Type, plain)
	if err != nil {
		return nil, err
	}
	return &openedKey[K]{id: v.KeyID, key: key, checked: now}, nil
}

// invalidate makes the next get read the key again. It holds the refresh lock, so that a refresh
// that read the key before the reset cannot store it after.
func (s *slotKey[K]) invalidate() {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	if cur := s.current.Load(); cur != nil {
		s.current.Store(&openedKey[K]{id: cur.id, key: cur.key})
	}
}
