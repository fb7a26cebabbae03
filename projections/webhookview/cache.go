package webhookview

import "sync"

// Bounds of the View's caches. A decoded webhook takes about 2 KiB, so the webhooks cache holds some
// 20 MiB at most.
const (
	webhooksCacheSize = 10_000
	totalsCacheSize   = 1_000
)

// The View keeps two caches, neither of which any write has to tell about a change:
//
//   - Decoded webhooks, by id. Decoding a stored webhook costs about ten times what the rest of
//     reading it does, and a page holds 25 of them. An entry serves while its Version is the row's
//     version: a webhook at a given revision of its stream is the same value whoever built it, the
//     live Runner or a rebuild.
//   - Totals of filters with several tags, which cost a scan to count. An entry serves while each of
//     the filter's tags still has the same changed position: the log position of the last event that
//     added a webhook to the tag or took one from it, which names the tag's membership whoever built
//     the table.

// cachedTotal is the total of a filter with several tags, and the changed positions of its tags when
// it was counted.
type cachedTotal struct {
	changed []string
	total   int
}

// bounded is a map that holds at most size entries; when it is full, a random entry makes room.
type bounded[V any] struct {
	mu      sync.Mutex
	size    int
	entries map[string]V
}

func newBounded[V any](size int) *bounded[V] {
	return &bounded[V]{size: size, entries: make(map[string]V, size)}
}

func (b *bounded[V]) get(key string) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.entries[key]
	return v, ok
}

func (b *bounded[V]) put(key string, v V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.entries[key]; !ok && len(b.entries) >= b.size {
		for k := range b.entries { // map order is random: this evicts a random entry
			delete(b.entries, k)
			break
		}
	}
	b.entries[key] = v
}

// clone copies the slices of w, so that a caller who changes what a query returned does not change
// the cache.
func (w Webhook) clone() Webhook {
	w.Settings = w.Settings.Clone()
	return w
}
