package kosmosauth

import (
	"container/list"
	"crypto/sha256"
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
//
// It holds a digest of each uuid rather than the uuid: the cache holds every request of the last
// time span (75,000 at 2,500 requests a second), and a uuid kept as a string cost 111 bytes an entry
// with the string, a digest 48 (BenchmarkReplayCacheBytes). The digest is SHA-256's first 16 bytes:
// two uuids sharing one would make the second a replay, and finding such a pair takes some 2^64
// hashes, which a caller could spend only to have its own request refused.
type replayCache struct {
	mu      sync.Mutex
	max     int
	seen    map[nonceDigest]struct{}
	buckets map[int64][]nonceDigest // expiry second -> uuids
	purged  int64                   // the unix second of the last purge
}

// nonceDigest names a uuid in the replay cache.
type nonceDigest [16]byte

func digest(uuid string) nonceDigest {
	sum := sha256.Sum256([]byte(uuid))
	return nonceDigest(sum[:16])
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: make(map[nonceDigest]struct{}), buckets: make(map[int64][]nonceDigest)}
}

// add records uuid until the second expires, unless it is already recorded; check and record are
// one step, so of concurrent requests with one uuid exactly one is added.
func (c *replayCache) add(uuid string, expires, now int64) error {
	d := digest(uuid)
	c.mu.Lock()
	defer c.mu.Unlock()
	if now != c.purged {
		c.purge(now)
	}
	// After the purge every uuid left is still inside the time span.
	if _, ok := c.seen[d]; ok {
		return reject(HeaderRequestID+" header: uuid already used inside the allowed time span (replayed request)", nil)
	}
	if len(c.seen) >= c.max {
		return ErrReplayCacheFull
	}
	c.seen[d] = struct{}{}
	c.buckets[expires] = append(c.buckets[expires], d)
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
