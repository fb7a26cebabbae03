package kurrentdb_test

import (
	"fmt"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb"
	"github.com/hookd/hookd/application/eventstore/eventstoretest"
)

// BenchmarkAppend measures one-event appends through the adapter and the real client against the
// in-memory test server: an upper bound on the client's overhead (round trip, allocations), not a
// figure for a real node, which also writes to disk and replicates.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16} {
		b.Run(fmt.Sprint("appenders=", appenders), func(b *testing.B) {
			srv := startServer(b)
			s := open(b, kurrentdb.Options{URL: srv.URL(), Categories: []string{"bench-"}})
			eventstoretest.BenchAppend(b, s, appenders, "bench-")
		})
	}
}

// BenchmarkCatchUp measures how fast a subscription delivers 100,000 events already in the log.
func BenchmarkCatchUp(b *testing.B) {
	srv := startServer(b)
	s := open(b, kurrentdb.Options{URL: srv.URL(), Categories: []string{"bench-"}})
	eventstoretest.BenchCatchUp(b, s, 100_000, "bench-")
}
