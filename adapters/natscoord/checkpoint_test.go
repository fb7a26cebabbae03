package natscoord_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/adapters/natscoord"
	"github.com/hookd/hookd/adapters/natsserver"
	"github.com/hookd/hookd/domain/eventlog"
)

func pos(n uint64) eventlog.Position { return eventlog.Position{Commit: n, Prepare: n} }

// TestCheckpointFenced: the next leader finds the last position saved, and once it has loaded, the
// deposed leader can no longer save; on the cluster, so that every node sees the same checkpoint.
func TestCheckpointFenced(t *testing.T) {
	t.Parallel()
	urls := clusterServers(t)
	ctx := context.Background()
	cpfencedBucket := bucket("cp_fenced")
	newCP := func(owner, url string) *natscoord.Checkpoint {
		cp, err := natscoord.NewCheckpoint(natscoord.CheckpointConfig{Conn: connect(t, url), Owner: owner, Bucket: cpfencedBucket}, "dispatch")
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	a, b := newCP("a", urls[0]), newCP("b", urls[1])

	if err := a.Save(ctx, pos(1)); err == nil {
		t.Fatal("Save before Load succeeded")
	}
	if got, err := a.Load(ctx); err != nil || got != eventlog.Start {
		t.Fatalf("first Load = %v, %v, want the start of the log", got, err)
	}
	for _, p := range []eventlog.Position{pos(5), pos(9)} {
		if err := a.Save(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// b is elected: it finds a's position and claims the checkpoint.
	if got, err := b.Load(ctx); err != nil || got != pos(9) {
		t.Fatalf("next leader's Load = %v, %v, want %v", got, err, pos(9))
	}
	if err := a.Save(ctx, pos(12)); !errors.Is(err, natscoord.ErrFenced) {
		t.Fatalf("deposed leader's Save = %v, want ErrFenced", err)
	}
	if err := b.Save(ctx, pos(11)); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Load(ctx); err != nil || got != pos(11) {
		t.Fatalf("Load after the fenced Save = %v, %v, want %v (the fenced Save changed nothing)", got, err, pos(11))
	}
	if err := b.Save(ctx, pos(13)); !errors.Is(err, natscoord.ErrFenced) {
		t.Fatalf("Save after another node loaded = %v, want ErrFenced", err)
	}
}

// TestCheckpointBucketLost: when NATS loses the bucket, a Save fails, and the next Load starts from
// the start of the log on a bucket made again.
func TestCheckpointBucketLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nc := connect(t, singleServer(t))
	name := bucket("cp_lost")
	cp, err := natscoord.NewCheckpoint(natscoord.CheckpointConfig{Conn: nc, Owner: "a", Bucket: name}, "dispatch")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cp.Save(ctx, pos(7)); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := cp.Save(ctx, pos(8)); err == nil {
		t.Fatal("Save into a lost bucket succeeded")
	}
	if got, err := cp.Load(ctx); err != nil || got != eventlog.Start {
		t.Fatalf("Load after the bucket was lost = %v, %v, want the start of the log", got, err)
	}
	if err := cp.Save(ctx, pos(3)); err != nil {
		t.Fatalf("Save after Load on the new bucket = %v", err)
	}
}

// TestCheckpointFollowsLeadership: the leader saves its position as it goes; when it stops, the next
// leader loads the position it reached and goes on from there, as the dispatcher will.
func TestCheckpointFollowsLeadership(t *testing.T) {
	t.Parallel()
	urls := clusterServers(t)
	type node struct {
		e  *natscoord.Elector
		cp *natscoord.Checkpoint
	}
	nodes := make([]node, 2)
	cpleaderBucket := bucket("cp_leader")
	cpleaderleaseBucket := bucket("cp_leader_lease")
	for i, owner := range []string{"a", "b"} {
		nc := connect(t, urls[i])
		e, err := natscoord.NewElector(context.Background(), natscoord.LeaseConfig{Conn: nc, Holder: owner, Bucket: cpleaderleaseBucket, TTL: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		cp, err := natscoord.NewCheckpoint(natscoord.CheckpointConfig{Conn: nc, Owner: owner, Bucket: cpleaderBucket}, "dispatch")
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = node{e, cp}
	}
	// lead loads the checkpoint, reports it, then saves positions from it on, each one further.
	lead := func(cp *natscoord.Checkpoint, loaded chan<- eventlog.Position, saved *atomic.Uint64) func(context.Context) error {
		return func(ctx context.Context) error {
			p, err := cp.Load(ctx)
			if err != nil {
				return err
			}
			loaded <- p
			for n := p.Commit + 1; ; n++ {
				if err := cp.Save(ctx, pos(n)); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				saved.Store(n)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
	}
	loadedA, loadedB := make(chan eventlog.Position, 1), make(chan eventlog.Position, 1)
	var savedA, savedB atomic.Uint64
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- nodes[0].e.RunAsLeader(ctxA, "dispatch", lead(nodes[0].cp, loadedA, &savedA)) }()
	select {
	case p := <-loadedA:
		if p != eventlog.Start {
			t.Fatalf("the first leader loaded %v, want the start of the log", p)
		}
	case err := <-doneA:
		t.Fatalf("first leader: %v", err)
	}
	for savedA.Load() < 10 {
		time.Sleep(5 * time.Millisecond)
	}

	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneB := make(chan error, 1)
	go func() { doneB <- nodes[1].e.RunAsLeader(ctxB, "dispatch", lead(nodes[1].cp, loadedB, &savedB)) }()
	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("first leader: %v", err)
	}
	select {
	case p := <-loadedB:
		// The first leader's last Save may have been stored as its context was cancelled, without
		// it knowing.
		if want := savedA.Load(); p.Commit != want && p.Commit != want+1 {
			t.Fatalf("the next leader loaded %v, want the last position the first one saved, %d", p, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no next leader within 30s")
	}
	stopB()
	if err := <-doneB; err != nil {
		t.Fatalf("second leader: %v", err)
	}
}

// TestCheckpointSaveRidesOutAnElection: a Save made while the bucket's stream has no leader (two
// servers of three down, so no quorum) waits for one and succeeds, rather than failing and ending
// the leader's term; the next leader finds what it saved.
func TestCheckpointSaveRidesOutAnElection(t *testing.T) {
	t.Parallel()
	srvs, restart := startRestartableCluster(t)
	ctx := t.Context()
	name := bucket("cp_election")
	newCP := func(owner string) *natscoord.Checkpoint {
		cp, err := natscoord.NewCheckpoint(natscoord.CheckpointConfig{Conn: connect(t, srvs[0].ClientURL()), Owner: owner, Bucket: name, Replicas: 3}, "dispatch")
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	a := newCP("a")
	if _, err := a.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, pos(3)); err != nil {
		t.Fatal(err)
	}
	srvs[1].Shutdown()
	srvs[2].Shutdown()
	saved := make(chan error, 1)
	go func() { saved <- a.Save(ctx, pos(8)) }()
	// Longer than a request waits for an answer (nats.go's 5 s): a Save that gives up has by then.
	select {
	case err := <-saved:
		t.Fatalf("Save returned %v while the bucket had no leader; want it to wait for one", err)
	case <-time.After(6 * time.Second):
	}
	restart(1)
	select {
	case err := <-saved:
		if err != nil {
			t.Fatalf("Save once the bucket has a leader again = %v, want nil", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Save still waiting 60s after the quorum came back")
	}
	if got, err := newCP("b").Load(ctx); err != nil || got != pos(8) {
		t.Fatalf("next leader's Load = %v, %v, want %v", got, err, pos(8))
	}
}

// startRestartableCluster starts a 3-server cluster of its own, for a test that stops servers:
// restart(i) starts server i again on its configuration and files. Servers still running at the
// end are shut down.
func startRestartableCluster(t *testing.T) (srvs []*natsserver.Server, restart func(i int)) {
	t.Helper()
	cfgs := make([]natsserver.Config, 3)
	var routes []string
	for i := range cfgs {
		rp, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		cp, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", rp))
		cfgs[i] = natsserver.Config{StoreDir: t.TempDir(), Name: fmt.Sprint("r", i), Port: cp,
			Cluster: &natsserver.Cluster{Name: "restarttest", Port: rp}}
	}
	srvs = make([]*natsserver.Server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].Cluster.Routes = routes
		wg.Go(func() { srvs[i], errs[i] = natsserver.Start(t.Context(), cfgs[i]) })
	}
	wg.Wait()
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range srvs {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return srvs, func(i int) {
		s, err := natsserver.Start(t.Context(), cfgs[i])
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		srvs[i] = s
		mu.Unlock()
	}
}
