package natstransport_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/hookd/hookd/adapters/transport/natstransport"
)

// TestWatermillPubSub runs Watermill's own suite against the transport on one server. The suite's
// messages have unique UUIDs, so keeping one message per key changes nothing for it.
func TestWatermillPubSub(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1)
	features := tests.Features{Persistent: true, ForceShort: true}
	tests.TestPubSub(t, features, func(t *testing.T) (message.Publisher, message.Subscriber) {
		nc := c.connect(t)
		t.Cleanup(nc.Close)
		// One message in flight at a time: the suite expects the next message only after an ack.
		cfg := natstransport.Config{Conn: nc, AckWait: 2 * time.Second, MaxInFlight: 1, CloseTimeout: 300 * time.Millisecond}
		pub, err := natstransport.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := natstransport.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return pub, sub
	}, nil)
}
