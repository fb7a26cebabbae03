package sqlitestore_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/sqlitestore"
	"github.com/hookd/hookd/application/eventstore/eventstoretest"
)

// BenchmarkAppend measures appends of one event each, every appender on a stream of its own with an
// exact expected revision: the load group commit exists for.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16, 64} {
		b.Run(fmt.Sprint("appenders=", appenders), func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "log.db"), sqlitestore.Options{})
			eventstoretest.BenchAppend(b, s, appenders, "bench-")
		})
	}
}

// BenchmarkSubscribeCatchUp measures how fast a subscription reads a log of 100,000 events of about
// 1 KiB from the start.
func BenchmarkSubscribeCatchUp(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "log.db"), sqlitestore.Options{})
	eventstoretest.BenchCatchUp(b, s, 100_000, "bench-")
}
