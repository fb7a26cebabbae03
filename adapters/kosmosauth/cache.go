package kosmosauth

import (
	"container/list"
	"sync"

	"github.com/hookd/hookd/adapters/kosmoscrypto"
)

// sharedKeyID names a shared key by the two public keys it joins: the service's, as bytes, and the
// caller's, as the raw header, so that a hit needs no parsing.
type sharedKeyID struct {
	service [kosmoscrypto.PublicKeySize]byte
	caller  string
}

type sharedKeyEntry struct {
	id  sharedKeyID
	key [kosmoscrypto.SharedKeySize]byte
}

// sharedKeyCache is a least-recently-used cache of shared keys. Callers are few and come back
// often, so recency is the right measure; the bound keeps a flood of fresh caller keys from
// growing memory.
type sharedKeyCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of *sharedKeyEntry, most recently used first
	entries map[sharedKeyID]*list.Element
}

func newSharedKeyCache(max int) *sharedKeyCache {
	return &sharedKeyCache{max: max, order: list.New(), entries: make(map[sharedKeyID]*list.Element)}
}

func (c *sharedKeyCache) get(id sharedKeyID) ([kosmoscrypto.SharedKeySize]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[id]
	if !ok {
		return [kosmoscrypto.SharedKeySize]byte{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*sharedKeyEntry).key, true
}

func (c *sharedKeyCache) put(id sharedKeyID, key [kosmoscrypto.SharedKeySize]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Two requests that missed at once both compute the key; the second put finds the first's.
	if el, ok := c.entries[id]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.entries[id] = c.order.PushFront(&sharedKeyEntry{id: id, key: key})
	if c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*sharedKeyEntry).id)
	}
}

// replayCache remembers the uuids of committed requests until their ts leaves the time span, after
// which the ts check rejects a replay on its own. Uuids sit in buckets by the unix second they
// expire at: the buckets span at most twice the time span, so dropping the expired ones is cheap.
type replayCache struct {
	mu      sync.Mutex
	max     int
	seen    map[string]struct{}
	buckets map[int64][]string // expiry second -> uuids
	purged  int64              // the unix second of the last purge
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: make(map[string]struct{}), buckets: make(map[int64][]string)}
}

// add records uuid until the second expires, unless it is already recorded; check and record are
// one step, so of concurrent requests with one uuid exactly one is added.
func (c *replayCache) add(uuid string, expires, now int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now != c.purged {
		c.purge(now)
	}
	// After the purge every uuid left is still inside the time span.
	if _, ok := c.seen[uuid]; ok {
		return reject(HeaderRequestID+" header: uuid already used inside the allowed time span (replayed request)", nil)
	}
	if len(c.seen) >= c.max {
		return ErrReplayCacheFull
	}
	c.seen[uuid] = struct{}{}
	c.buckets[expires] = append(c.buckets[expires], uuid)
	return nil
}

// purge forgets every uuid whose expiry second lies before now.
func (c *replayCache) purge(now int64) {
	c.purged = now
	for sec, uuids := range c.buckets {
		if sec >= now {
			continue
		}
		for _, u := range uuids {
			delete(c.seen, u)
		}
		delete(c.buckets, sec)
	}
}
