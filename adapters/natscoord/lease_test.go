package natscoord_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookd/hookd/adapters/natscoord"
	"github.com/hookd/hookd/adapters/natsserver"
)

// leaders records who leads: live counts the leader contexts alive, which must never exceed one.
type leaders struct {
	live, most atomic.Int32
	mu         sync.Mutex
	current    int // candidate leading now, -1 when none
	started    []time.Time
	ended      []time.Time // of each term, in order
	holders    []int
}

func (l *leaders) fn(i int) func(context.Context) error {
	return func(ctx context.Context) error {
		n := l.live.Add(1)
		for {
			m := l.most.Load()
			if n <= m || l.most.CompareAndSwap(m, n) {
				break
			}
		}
		l.mu.Lock()
		l.current = i
		l.holders = append(l.holders, i)
		l.started = append(l.started, time.Now())
		l.mu.Unlock()
		<-ctx.Done()
		l.mu.Lock()
		l.current = -1
		l.ended = append(l.ended, time.Now())
		l.mu.Unlock()
		l.live.Add(-1)
		return nil
	}
}

// waitLeader waits for a leader other than not and returns it with when its term started.
func (l *leaders) waitLeader(t *testing.T, not int) (int, time.Time) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		cur, n := l.current, len(l.started)
		var at time.Time
		if n > 0 {
			at = l.started[n-1]
		}
		l.mu.Unlock()
		if cur >= 0 && cur != not {
			return cur, at
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no new leader within 30s (previous %d)", not)
	return 0, time.Time{}
}

// TestLeaseOneLeaderAtATime runs four candidates on a 3-server cluster, each connected through a
// proxy to one server, and takes the leader away three ways: a clean stop, a closed connection and a
// partition. Each time a new leader follows within the lease TTL, and no two leader contexts ever
// live at once.
func TestLeaseOneLeaderAtATime(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	urls := clusterServers(t)
	l := &leaders{current: -1}
	leaseoneBucket := bucket("lease_one")
	type candidate struct {
		nc     *nats.Conn
		proxy  *proxy
		cancel context.CancelFunc
		done   chan struct{} // closed when RunAsLeader returned, with err
		err    error
	}
	cands := make([]*candidate, 4)
	for i := range cands {
		p := newProxy(t, urls[i%len(urls)])
		nc, err := nats.Connect(p.url(), nats.IgnoreDiscoveredServers(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		e, err := natscoord.NewElector(context.Background(), natscoord.LeaseConfig{Conn: nc, Holder: fmt.Sprint("node", i), Bucket: leaseoneBucket, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		c := &candidate{nc: nc, proxy: p, cancel: cancel, done: make(chan struct{})}
		cands[i] = c
		go func() {
			defer close(c.done)
			c.err = e.RunAsLeader(ctx, "dispatch", l.fn(i))
		}()
	}
	t.Cleanup(func() {
		for _, c := range cands {
			c.cancel()
		}
		for _, c := range cands {
			<-c.done
		}
	})

	first, _ := l.waitLeader(t, -1)

	// A clean stop releases the lease: the next leader follows at once, not after the TTL.
	stopped := time.Now()
	cands[first].cancel()
	if <-cands[first].done; cands[first].err != nil {
		t.Fatalf("RunAsLeader after a clean stop = %v", cands[first].err)
	}
	second, at := l.waitLeader(t, first)
	if d := at.Sub(stopped); d >= ttl {
		t.Errorf("after a clean stop the next leader took %s, not under the TTL %s", d, ttl)
	} else {
		t.Logf("clean stop: next leader after %s", d)
	}

	// A closed connection: the lease expires and another node takes it within the TTL of the last
	// renewal (at most TTL/3 before the close), give or take the server's expiry check.
	closed := time.Now()
	cands[second].nc.Close()
	if <-cands[second].done; !errors.Is(cands[second].err, nats.ErrConnectionClosed) {
		t.Fatalf("RunAsLeader on a closed connection = %v, want ErrConnectionClosed", cands[second].err)
	}
	third, at := l.waitLeader(t, second)
	d := at.Sub(closed)
	t.Logf("closed connection: next leader after %s", d)
	if d > 2*ttl {
		t.Errorf("after the leader's connection closed the next leader took %s, more than twice the TTL %s", d, ttl)
	}

	// A partition: the leader's requests go unanswered. It must stop before anyone else starts.
	partitioned := time.Now()
	cands[third].proxy.freeze()
	fourth, at := l.waitLeader(t, third)
	d = at.Sub(partitioned)
	t.Logf("partition: next leader after %s", d)
	if d > 2*ttl {
		t.Errorf("after a partition the next leader took %s, more than twice the TTL %s", d, ttl)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if got := l.most.Load(); got != 1 {
		t.Errorf("%d leader contexts were alive at once", got)
	}
	want := []int{first, second, third, fourth}
	if fmt.Sprint(l.holders) != fmt.Sprint(want) {
		t.Errorf("terms went to %v, want %v", l.holders, want)
	}
	for i := 1; i < len(l.started); i++ {
		if !l.ended[i-1].Before(l.started[i]) {
			t.Errorf("term %d started at %s, before term %d ended at %s", i, l.started[i], i-1, l.ended[i-1])
		}
	}
	// The partitioned leader stopped by itself within TTL/2 of its last renewal, well before the
	// lease expired: at the latest TTL/2 after the freeze.
	if stop := l.ended[2].Sub(partitioned); stop > ttl/2+ttl/4 {
		t.Errorf("the partitioned leader acted for %s after the partition, want at most about TTL/2 (%s)", stop, ttl/2)
	} else {
		t.Logf("the partitioned leader stopped %s after the partition", stop)
	}
}

// TestLeaseFnReturning: when fn returns on its own, RunAsLeader releases the lease and returns fn's
// error, and another candidate takes the lease at once.
func TestLeaseFnReturning(t *testing.T) {
	t.Parallel()
	nc := connect(t, singleServer(t))
	cfg := natscoord.LeaseConfig{Conn: nc, Holder: "a", Bucket: bucket("lease_fn"), TTL: 5 * time.Second}
	e, err := natscoord.NewElector(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := e.RunAsLeader(context.Background(), "x", func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("RunAsLeader = %v, want fn's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second/2)
	defer cancel()
	ran := false
	if err := e.RunAsLeader(ctx, "x", func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("second RunAsLeader = %v, ran %v: the lease was not released", err, ran)
	}
}

// TestElectorRefusesOtherTTL: a bucket keeping leases for another TTL would break the timing.
func TestElectorRefusesOtherTTL(t *testing.T) {
	t.Parallel()
	nc := connect(t, singleServer(t))
	leasettlBucket := bucket("lease_ttl")
	if _, err := natscoord.NewElector(context.Background(), natscoord.LeaseConfig{Conn: nc, Holder: "a", Bucket: leasettlBucket, TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	_, err := natscoord.NewElector(context.Background(), natscoord.LeaseConfig{Conn: nc, Holder: "a", Bucket: leasettlBucket, TTL: 2 * time.Second})
	if err == nil {
		t.Fatal("NewElector accepted a bucket with another TTL")
	}
}

// TestLeaseSurvivesBucketLeaderLoss shuts down the NATS server leading the lease bucket's stream,
// on a cluster of its own: the candidates reconnect, a leader holds the lease again, and no two
// leader contexts ever live at once.
func TestLeaseSurvivesBucketLeaderLoss(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	urls, srvs, err := startCluster(3)
	if err != nil {
		t.Fatal(err)
	}
	l := &leaders{current: -1}
	name := bucket("lease_loss")
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	for i := range 3 {
		nc := connect(t, urls...)
		e, err := natscoord.NewElector(context.Background(), natscoord.LeaseConfig{Conn: nc, Holder: fmt.Sprint("node", i), Bucket: name, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := e.RunAsLeader(ctx, "dispatch", l.fn(i)); err != nil {
				t.Errorf("candidate %d: %v", i, err)
			}
		})
	}
	first, _ := l.waitLeader(t, -1)
	var victim *natsserver.Server
	for _, s := range srvs {
		if s.IsStreamLeader("KV_" + name) {
			victim = s
		}
	}
	if victim == nil {
		t.Fatal("no server leads the lease bucket's stream")
	}
	lost := time.Now()
	victim.Shutdown()
	// Past the election and two TTLs, a leader holds the lease: the same one if its renewals got
	// through the election, else another.
	time.Sleep(2 * ttl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		cur, terms := l.current, len(l.started)
		l.mu.Unlock()
		if cur >= 0 {
			t.Logf("bucket stream leader lost: leader %d (first %d), %d terms in all, %s after the loss", cur, first, terms, time.Since(lost))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader within 30s of losing the bucket's stream leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := l.most.Load(); got != 1 {
		t.Errorf("%d leader contexts were alive at once", got)
	}
}

// TestLeaseTakenBackAfterAnElection: a leader deposed because its bucket had no leader (two servers
// of three down: no renewal for TTL/2), whose release got no answer either, takes its own lease back
// once the bucket has a leader again, rather than waiting for the key to expire: another term
// starts before the key can have expired (TTL after the last renewal, which was at least TTL/2
// before the deposition).
func TestLeaseTakenBackAfterAnElection(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second
	srvs, restart := startRestartableCluster(t)
	e, err := natscoord.NewElector(t.Context(), natscoord.LeaseConfig{Conn: connect(t, srvs[0].ClientURL()), Holder: "node0",
		Bucket: bucket("lease_back"), TTL: ttl, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	started, ended := make(chan time.Time, 2), make(chan time.Time, 2)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- e.RunAsLeader(ctx, "dispatch", func(leaderCtx context.Context) error {
			started <- time.Now()
			<-leaderCtx.Done()
			ended <- time.Now()
			return nil
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("no first term within 30s")
	}
	srvs[1].Shutdown()
	srvs[2].Shutdown()
	var deposed time.Time
	select {
	case deposed = <-ended:
	case <-time.After(2 * ttl):
		t.Fatal("the leader was not deposed while its bucket had no quorum")
	}
	restart(1)
	select {
	case again := <-started:
		if expiry := deposed.Add(ttl / 2); !again.Before(expiry) {
			t.Fatalf("the next term started %v after the deposition, no sooner than the key could expire (%v)", again.Sub(deposed), ttl/2)
		}
		t.Logf("deposed, then leading again %v later", again.Sub(deposed).Round(time.Millisecond))
	case <-time.After(2 * ttl):
		t.Fatal("no next term")
	}
}
