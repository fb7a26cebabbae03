package memtransport_test

import (
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/transport/memtransport"
	"github.com/hookd/hookd/adapters/transport/transporttest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	// One process: every node is the same PubSub, as every part of an embedded hookd is.
	ps := memtransport.New(memtransport.Config{})
	t.Cleanup(func() { _ = ps.Close() })
	transporttest.Run(t, transporttest.Features{DueOrder: true, Lateness: 10 * time.Millisecond}, transporttest.Backend{
		NewNode: func(*testing.T, time.Duration) transporttest.Node {
			return transporttest.Node{Publisher: ps, Subscriber: ps}
		},
	})
}
