package natscoord

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of LeaseConfig.
const (
	DefaultLeaseBucket = "hookd_leases"
	// DefaultLeaseTTL is how long a lease outlives its holder's last renewal: a dead leader is
	// replaced within it. Half of it (the time a leader keeps acting without a renewal) outlasts a
	// typical election of the bucket's stream leader, so that one seldom deposes the leader.
	DefaultLeaseTTL = 10 * time.Second
)

// ErrLeaseLost is the cause of a leader context cancelled because its lease could not be renewed in
// time or was taken away (context.Cause tells it apart from a stop).
var ErrLeaseLost = errors.New("natscoord: lease lost")

// LeaseConfig says how to hold leases. Conn and Holder are required.
type LeaseConfig struct {
	// Conn is the connection to use; the Elector never closes it.
	Conn *nats.Conn
	// Holder names this node in the lease's value, for operators.
	Holder string
	// Bucket is the key-value bucket of the leases (DefaultLeaseBucket). Its TTL is the lease TTL;
	// a bucket that exists with another TTL is refused rather than used with the wrong timing.
	Bucket string
	// TTL is the lease time (DefaultLeaseTTL); at least 300 ms (the server expires keys late by up
	// to its check interval, and renewals need room).
	TTL time.Duration
	// Replicas is how many servers keep the bucket (0: 3 when the server is in a cluster, else 1).
	Replicas int
	// Logger is optional.
	Logger *slog.Logger
}

// Elector campaigns for leases in one bucket; it is safe for concurrent use.
type Elector struct {
	cfg LeaseConfig
	kv  jetstream.KeyValue
}

// NewElector opens (or creates) the lease bucket.
func NewElector(ctx context.Context, cfg LeaseConfig) (*Elector, error) {
	if cfg.Conn == nil {
		return nil, errors.New("natscoord: lease: Conn is required")
	}
	if err := checkToken("lease holder", cfg.Holder); err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultLeaseBucket
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultLeaseTTL
	}
	if cfg.TTL < 300*time.Millisecond {
		return nil, fmt.Errorf("natscoord: lease TTL %s is under 300ms", cfg.TTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := openTTLBucket(ctx, cfg.Conn, cfg.Replicas, "leases", jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "hookd leases: one key per lease, held by the node that renews it",
		History:     1,
		TTL:         cfg.TTL,
		// A key expired by the TTL leaves a marker, so that candidates watching it campaign at once.
		LimitMarkerTTL: cfg.TTL,
	})
	if err != nil {
		return nil, err
	}
	return &Elector{cfg: cfg, kv: kv}, nil
}

// RunAsLeader campaigns for the lease name and, whenever it holds it, runs fn with a context that
// lives as long as the lease is certainly held. It renews the lease every TTL/3; when no renewal has
// succeeded for TTL/2 after the last one was sent, or the lease is found taken, it cancels fn's
// context (cause ErrLeaseLost), waits for fn to return and campaigns again. The lease expires on
// the servers no earlier than TTL after that renewal was sent, so fn has TTL/2 to stop before any
// other node can take over (clock skew between NATS servers eats into it).
//
// fn must return soon after its context ends. When ctx ends, RunAsLeader cancels fn's context,
// waits for fn, releases the lease so that another node takes over at once, and returns nil. When
// fn returns on its own while the lease is held, RunAsLeader releases the lease and returns fn's
// error. It returns an error of its own only when the connection is closed for good.
func (e *Elector) RunAsLeader(ctx context.Context, name string, fn func(leaderCtx context.Context) error) error {
	if err := checkToken("lease name", name); err != nil {
		return err
	}
	log := e.cfg.Logger.With("lease", name, "holder", e.cfg.Holder)
	// The lease's value names the holder, for operators, and this call, so that it knows its own
	// lease again (campaign) and no other process does, even one given the same holder name.
	value := []byte(e.cfg.Holder + " " + rand.Text())
	for {
		rev, sent, err := e.campaign(ctx, name, value)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		log.Info("lease acquired", "revision", rev)
		returned, err := e.lead(ctx, name, value, rev, sent, fn)
		if ctx.Err() != nil {
			return nil
		}
		if returned {
			return err
		}
		if errors.Is(err, nats.ErrConnectionClosed) {
			return fmt.Errorf("natscoord: lease %s: %w", name, err)
		}
		log.Warn("lease lost; campaigning again", "error", err)
	}
}

// campaign returns once this node holds the lease: its revision and when the request that took it
// was sent. It tries at once, then whenever the key changes, and at least every TTL/5.
//
// A key that still holds value is this call's own lease from a term that ended without releasing
// it: deposed while the bucket's stream elected a leader, the release then got no answer either.
// It is taken back over its revision rather than left to expire (up to a TTL more without a
// leader); nobody else can hold the lease while the key holds value, and the update fails if
// anyone wrote the key since.
func (e *Elector) campaign(ctx context.Context, name string, value []byte) (rev uint64, sent time.Time, err error) {
	retry := e.cfg.TTL / 5
	var changes <-chan jetstream.KeyValueEntry
	if w, err := e.kv.Watch(ctx, name, jetstream.UpdatesOnly()); err == nil {
		defer func() { _ = w.Stop() }()
		changes = w.Updates()
	}
	for {
		sent = time.Now()
		try, cancel := context.WithTimeout(ctx, e.cfg.TTL/2)
		rev, err = e.kv.Create(try, name, value)
		if errors.Is(err, jetstream.ErrKeyExists) {
			if entry, gerr := e.kv.Get(try, name); gerr == nil && bytes.Equal(entry.Value(), value) {
				rev, err = e.kv.Update(try, name, value, entry.Revision())
			}
		}
		cancel()
		if err == nil {
			return rev, sent, nil
		}
		if ctx.Err() != nil || errors.Is(err, nats.ErrConnectionClosed) {
			return 0, time.Time{}, err
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			e.cfg.Logger.Debug("lease campaign failed", "lease", name, "error", err)
		}
		timer := time.NewTimer(retry)
		select {
		case <-ctx.Done():
		case _, ok := <-changes:
			if !ok {
				changes = nil // the watch ended with the connection; the timer carries on
			}
		case <-timer.C:
		}
		timer.Stop()
	}
}

// lead runs fn while the lease at revision rev, taken by a request sent at sent, is held. returned
// reports that fn returned on its own (with err); otherwise err says why the lease was given up.
func (e *Elector) lead(ctx context.Context, name string, value []byte, rev uint64, sent time.Time, fn func(context.Context) error) (returned bool, err error) {
	ttl := e.cfg.TTL
	leaderCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// guard deposes the leader TTL/2 after the last renewal that succeeded was sent, even while a
	// renewal request still hangs.
	guard := time.AfterFunc(time.Until(sent.Add(ttl/2)), func() { cancel(ErrLeaseLost) })
	defer guard.Stop()

	done := make(chan error, 1)
	go func() { done <- fn(leaderCtx) }()

	next := time.NewTimer(ttl / 3)
	defer next.Stop()
	var lost error
	for {
		select {
		case err := <-done:
			// fn returned: on its own, or because its context ended.
			if lost == nil || !errors.Is(lost, nats.ErrConnectionClosed) {
				// Deleting over this node's revision is safe even when deposed: it fails if
				// another node wrote the key since, and otherwise lets a candidate in sooner.
				e.release(ctx, name, rev)
			}
			switch {
			case lost != nil:
				return false, lost
			case ctx.Err() != nil || leaderCtx.Err() == nil:
				return ctx.Err() == nil, err
			default:
				return false, context.Cause(leaderCtx)
			}
		case <-next.C:
			if lost != nil || leaderCtx.Err() != nil {
				continue // deposed: waiting for fn to return
			}
			at := time.Now()
			try, cancelTry := context.WithDeadline(leaderCtx, sent.Add(ttl/2))
			newRev, err := e.kv.Update(try, name, value, rev)
			cancelTry()
			switch {
			case err == nil:
				rev, sent = newRev, at
				if !guard.Stop() {
					continue // the guard fired meanwhile: the leader is deposed already
				}
				guard.Reset(time.Until(sent.Add(ttl / 2)))
				next.Reset(ttl / 3)
			case leaderCtx.Err() != nil:
				// Stopping, or deposed by the guard during the request: waiting for fn to return.
			case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound),
				errors.Is(err, nats.ErrConnectionClosed):
				// Taken, expired or never coming back: stop at once.
				lost = fmt.Errorf("%w: %w", ErrLeaseLost, err)
				cancel(lost)
			default:
				// A slow or failed request: try again soon, until the guard gives up.
				e.cfg.Logger.Warn("lease renewal failed", "lease", name, "error", err)
				next.Reset(ttl / 20)
			}
		}
	}
}

// release deletes the lease if this node still holds it at rev, so that a candidate takes over at
// once rather than after the TTL.
func (e *Elector) release(ctx context.Context, name string, rev uint64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.TTL/2)
	defer cancel()
	if err := e.kv.Delete(ctx, name, jetstream.LastRevision(rev)); err != nil {
		e.cfg.Logger.Warn("lease not released; it expires after its TTL", "lease", name, "error", err)
	}
}
