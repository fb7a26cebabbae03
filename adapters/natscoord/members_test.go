package natscoord_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookd/hookd/adapters/natscoord"
)

// TestMembersCount: three delivering nodes on the cluster see N=3; one that stops beating (its
// connection closed, so it cannot withdraw) drops out within the TTL; one that stops cleanly drops
// out at once. A node with another role is not counted.
func TestMembersCount(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	urls := clusterServers(t)
	memberscountBucket := bucket("members_count")
	type node struct {
		nc      *nats.Conn
		m       *natscoord.Members
		stop    context.CancelFunc
		stopped chan struct{}
	}
	nodes := make([]*node, 4)
	for i := range nodes {
		nc := connect(t, urls[i%len(urls)])
		roles := []string{"api", "deliver"}
		if i == 3 {
			roles = []string{"api"}
		}
		m, err := natscoord.NewMembers(context.Background(), natscoord.MembersConfig{Conn: nc, NodeID: fmt.Sprint("node", i), Roles: roles, Bucket: memberscountBucket, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n := &node{nc: nc, m: m, stop: cancel, stopped: make(chan struct{})}
		nodes[i] = n
		go func() {
			defer close(n.stopped)
			_ = m.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-n.stopped })
	}
	// waitCount waits until every node in watchers counts want delivering nodes, in NATS and
	// cached, and returns how long that took.
	waitCount := func(want int, watchers ...*node) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 30*time.Second {
			ok := true
			for _, n := range watchers {
				got, err := n.m.Count(context.Background(), "deliver")
				if err != nil || got != want || n.m.Live("deliver") != want {
					ok = false
				}
			}
			if ok {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("the nodes did not come to count %d delivering nodes within 30s", want)
		return 0
	}
	waitCount(3, nodes...)

	nodes[2].nc.Close() // stops beating without withdrawing
	d := waitCount(2, nodes[0], nodes[1])
	t.Logf("a node that stopped beating dropped out after %s (TTL %s)", d, ttl)
	// Its last heartbeat, at most a beat (TTL/3) before the close, lives for the TTL: it cannot be
	// gone sooner. How much later it goes depends on the machine's load (waitCount's guard catches
	// a node that never drops out), so only the lower bound is judged.
	if d < 2*ttl/3 {
		t.Errorf("a node that stopped beating dropped out after %s, before its last heartbeat's TTL %s could end", d, ttl)
	}
	if got := natscoord.Share(10, nodes[0].m.Live("deliver")); got != 5 {
		t.Errorf("share of 10 among the live nodes = %d, want 5", got)
	}

	// A clean stop withdraws the heartbeat; on a loaded machine the withdrawal may take longer than
	// its own deadline (TTL/3), and then the beat expires with its TTL. Either way the node leaves;
	// the wait below only catches a node that never does.
	nodes[1].stop()
	<-nodes[1].stopped
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, err := nodes[0].m.Count(context.Background(), "deliver")
		if err == nil && got == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Count after a clean stop = %d, %v, want 1", got, err)
		}
	}
	if got, err := nodes[0].m.Count(context.Background(), "api"); err != nil || got != 2 {
		t.Fatalf("api nodes = %d, %v, want 2", got, err)
	}
}

func TestShare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ limit, n, want int }{
		{128, 3, 43}, {128, 1, 128}, {10, 4, 3}, {2, 3, 1}, {1, 3, 1}, {7, 0, 7}, {9, 3, 3},
	} {
		if got := natscoord.Share(tc.limit, tc.n); got != tc.want {
			t.Errorf("Share(%d, %d) = %d, want %d", tc.limit, tc.n, got, tc.want)
		}
	}
}
