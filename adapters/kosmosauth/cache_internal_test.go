package kosmosauth

import (
	"context"
	"crypto/rand"
	"errors"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/kosmoscrypto"
)

func (c *sharedKeyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func TestSharedKeyCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newSharedKeyCache(2)
	a, b, d := sharedKeyID{caller: "a"}, sharedKeyID{caller: "b"}, sharedKeyID{caller: "d"}
	c.put(a, [32]byte{1})
	c.put(b, [32]byte{2})
	if _, ok := c.get(a); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put(d, [32]byte{3})
	if c.len() != 2 {
		t.Fatalf("cache holds %d entries, bound is 2", c.len())
	}
	if _, ok := c.get(b); ok {
		t.Error("b, the least recently used, survived")
	}
	if k, ok := c.get(a); !ok || k != [32]byte{1} {
		t.Error("a was evicted or changed")
	}
	if k, ok := c.get(d); !ok || k != [32]byte{3} {
		t.Error("d missing")
	}
	c.put(d, [32]byte{3})
	if c.len() != 2 {
		t.Error("putting a present key grew the cache")
	}
}

func TestSharedKeyCacheSeparatesServiceKeys(t *testing.T) {
	t.Parallel()
	c := newSharedKeyCache(4)
	old := sharedKeyID{service: [64]byte{1}, caller: "caller"}
	c.put(old, [32]byte{1})
	if _, ok := c.get(sharedKeyID{service: [64]byte{2}, caller: "caller"}); ok {
		t.Fatal("a key shared with the old service key served the new one")
	}
}

func TestReplayCacheForgetsAfterExpiry(t *testing.T) {
	t.Parallel()
	c := newReplayCache(10)
	if err := c.add("u1", 130, 100); err != nil {
		t.Fatal(err)
	}
	if err := c.add("u2", 140, 100); err != nil {
		t.Fatal(err)
	}
	if err := c.add("u1", 131, 130); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("u1 at its expiry second: err = %v, want a replay", err)
	}
	// At 131 u1 is forgotten (its ts is out of the span by then), u2 is not.
	if err := c.add("u3", 160, 131); err != nil {
		t.Fatal(err)
	}
	if c.len() != 2 {
		t.Fatalf("cache holds %d uuids, want u2 and u3", c.len())
	}
	if err := c.add("u2", 170, 131); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("u2: err = %v, want a replay", err)
	}
	// Much later everything is gone.
	if err := c.add("u4", 10_000, 9_000); err != nil {
		t.Fatal(err)
	}
	if c.len() != 1 || len(c.buckets) != 1 {
		t.Fatalf("after a long pause: %d uuids in %d buckets, want 1 in 1", c.len(), len(c.buckets))
	}
}

func TestReplayCacheBound(t *testing.T) {
	t.Parallel()
	c := newReplayCache(2)
	_ = c.add("a", 130, 100)
	_ = c.add("b", 130, 100)
	if err := c.add("c", 130, 100); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("err = %v, want ErrReplayCacheFull", err)
	}
	if err := c.add("a", 130, 100); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a full cache must still report a replay as such: %v", err)
	}
}

// staticKeys serves one private key.
type staticKeys struct{ key kosmoscrypto.PrivateKey }

func (s staticKeys) ServicePrivateKey(context.Context) (kosmoscrypto.PrivateKey, error) {
	return s.key, nil
}

// TestSharedKeyCacheOwnsItsKeys hands Verify a publickey header that aliases a buffer, as Fiber's
// header strings alias fasthttp's request buffer, then reuses the buffer for the next request's
// bytes: the cache must still hold the first caller's key under the first caller's name.
func TestSharedKeyCacheOwnsItsKeys(t *testing.T) {
	t.Parallel()
	service, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Keys: staticKeys{service.Private}, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	first, second := newCaller(t), newCaller(t)
	buf := []byte(first.Public.Encode())
	aliased := unsafe.String(&buf[0], len(buf))
	want, err := v.sharedKey(service.Private, aliased)
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, second.Public.Encode()) // the server reuses its buffer for another request

	got, ok := v.shared.get(sharedKeyID{service: service.Public.Bytes(), caller: first.Public.Encode()})
	if !ok || got != want {
		t.Fatalf("the first caller's shared key is gone from the cache (found %v) once the header's buffer was reused", ok)
	}
}

func newCaller(t *testing.T) kosmoscrypto.KeyPair {
	t.Helper()
	pair, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// BenchmarkReplayCacheBytes reports the heap the replay cache holds per request it remembers, with
// the nonce's own bytes when the cache keeps the string it is given: 150,000 UUID nonces
// over 60 expiry seconds, what 2,500 requests/s leave in it at the default time span of 30 s. For
// the record; it asserts nothing.
func BenchmarkReplayCacheBytes(b *testing.B) {
	const n, seconds = 150_000, 60
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := newReplayCache(DefaultReplayCacheSize)
		for i := range n {
			if err := c.add(uuid.NewString(), int64(1000+i*seconds/n), 1000); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/request")
		runtime.KeepAlive(c)
	}
}
