// Package bounded is a concurrent map that holds at most a fixed number of entries: a cache for
// values that are cheap to lose and costly to build again, with no write path to tell it about
// changes (entries carry what proves them current, and callers check it).
package bounded

import "sync"

// Map holds at most its size's worth of entries; when it is full, a random entry makes room. Random
// eviction needs no bookkeeping on reads, which are the hot path.
type Map[V any] struct {
	mu      sync.Mutex
	size    int
	entries map[string]V
}

// New returns an empty Map that holds at most size entries. Its memory grows with the entries it
// holds rather than being taken for size at once: hookd's caches are sized for the busiest
// deployments, and preallocated they held 8 MB of Go heap (up to 16 MB of RSS with the collector's
// headroom) in every process, full or not.
func New[V any](size int) *Map[V] {
	return &Map[V]{size: size, entries: make(map[string]V)}
}

// Get returns the value under key, if the map holds one.
func (m *Map[V]) Get(key string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.entries[key]
	return v, ok
}

// Take returns the value under key and removes it, if the map holds one.
func (m *Map[V]) Take(key string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.entries[key]
	delete(m.entries, key)
	return v, ok
}

// Put sets the value under key, evicting a random entry when the map is full.
func (m *Map[V]) Put(key string, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[key]; !ok && len(m.entries) >= m.size {
		for k := range m.entries { // map order is random: this evicts a random entry
			delete(m.entries, k)
			break
		}
	}
	m.entries[key] = v
}
