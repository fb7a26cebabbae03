package kurrentdb_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb"
	"github.com/hookd/hookd/adapters/eventstore/kurrentdb/kurrentdbtest"
	"github.com/hookd/hookd/application/eventstore"
	"github.com/hookd/hookd/application/eventstore/eventstoretest"
)

// realNodeEnv names a real KurrentDB node to run the suite against, e.g.
// esdb://127.0.0.1:2113?tls=false.
const realNodeEnv = "HOOKD_TEST_KURRENTDB_URL"

// TestConformance runs the store suite against the protocol test server. The cases share one
// server, each with a stream prefix of its own, so every case also proves that the prefix filter
// keeps the other cases' events out of its log.
func TestConformance(t *testing.T) {
	srv := startServer(t)
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return open(t, kurrentdb.Options{URL: srv.URL(), StreamPrefix: uniquePrefix()})
	})
}

// TestConformanceRealNode runs the same suite against a real node, when one is named.
func TestConformanceRealNode(t *testing.T) {
	url := os.Getenv(realNodeEnv)
	if url == "" {
		t.Skipf("%s is not set: the suite ran against the protocol test server only (see README: KurrentDB)", realNodeEnv)
	}
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return open(t, kurrentdb.Options{URL: url, StreamPrefix: uniquePrefix()})
	})
}

func startServer(tb testing.TB) *kurrentdbtest.Server {
	tb.Helper()
	srv, err := kurrentdbtest.Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	return srv
}

// open opens a store that is closed when the test ends.
func open(tb testing.TB, opts kurrentdb.Options) *kurrentdb.Store {
	tb.Helper()
	s, err := kurrentdb.Open(tb.Context(), opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// uniquePrefix keeps a test's streams apart from everything else on a shared node.
func uniquePrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "hookdtest" + hex.EncodeToString(b) + "."
}
