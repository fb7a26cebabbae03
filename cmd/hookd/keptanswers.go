package main

import (
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/bounded"
	"github.com/hookd/hookd/projections"
)

// kept is an answer read from a read model when its Runner had committed at at.
type kept[V any] struct {
	at    eventlog.Position
	value V
}

// keptAnswers keeps answers read from one read model, by key, for as long as the read model has
// applied nothing that changes them (projections.Changes, which the view's unchanged reads). The
// Runner's position is read before the answer: an answer read while a batch is applied is then
// dated before that batch, and its mark says so.
type keptAnswers[V any] struct {
	cache     *bounded.Map[kept[V]]
	runner    *projections.Runner
	unchanged func(at eventlog.Position) bool
}

func newKeptAnswers[V any](size int, runner *projections.Runner, unchanged func(eventlog.Position) bool) keptAnswers[V] {
	return keptAnswers[V]{cache: bounded.New[kept[V]](size), runner: runner, unchanged: unchanged}
}

// get returns the answer kept under key while it is current, or else the one read answers, which
// it keeps. Errors are not kept.
func (k keptAnswers[V]) get(key string, read func() (V, error)) (V, error) {
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
