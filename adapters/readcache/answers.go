// Package readcache keeps answers read from the read models in memory, each cache with one
// invalidation rule stated in its doc comment: Answers (the rule every other builds on: kept while
// the read model has applied nothing that changes them), Licenses (authentication's lookups) and
// Subscribers (the dispatcher's candidates).
package readcache

import (
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/bounded"
)

// Follower is the Runner that keeps a read model up to date (*projections.Runner).
type Follower interface {
	// Position returns the log position the read model is committed up to.
	Position() eventlog.Position
}

// kept is an answer read from a read model when its Runner had committed at at.
type kept[V any] struct {
	at    eventlog.Position
	value V
}

// Answers keeps answers read from one read model, by key.
//
// Its invalidation rule: an answer is kept for as long as the read model has applied nothing that
// changes answers of its kind since it was read (unchanged, a view's Unchanged over
// projections.Changes). The Runner's position is read before the answer: an answer read while a
// batch is applied is then dated before that batch, and its mark says so. Errors are not kept. At
// most size answers are kept; the least recently used goes first.
type Answers[V any] struct {
	cache     *bounded.Map[kept[V]]
	runner    Follower
	unchanged func(at eventlog.Position) bool
}

// NewAnswers returns an empty cache of at most size answers of the read model runner keeps, which
// unchanged says have not changed since a position.
func NewAnswers[V any](size int, runner Follower, unchanged func(eventlog.Position) bool) Answers[V] {
	return Answers[V]{cache: bounded.New[kept[V]](size), runner: runner, unchanged: unchanged}
}

// Get returns the answer kept under key while it is current, or else the one read answers, which
// it keeps.
func (k Answers[V]) Get(key string, read func() (V, error)) (V, error) {
	if c, ok := k.cache.Get(key); ok && k.unchanged(c.at) {
		return c.value, nil
	}
	at := k.runner.Position()
	v, err := read()
	if err != nil {
		return v, err
	}
	k.cache.Put(key, kept[V]{at: at, value: v})
	return v, nil
}
