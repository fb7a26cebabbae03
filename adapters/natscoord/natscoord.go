// Package natscoord coordinates the hookd nodes of the cluster profile through NATS key-value
// buckets (JetStream streams, replicated like the delivery stream):
//
//   - Elector: one leader at a time by a lease, a key that expires after the lease TTL unless its
//     holder renews it (RunAsLeader). The dispatcher and the reconciler run on the leader.
//   - Checkpoint: the dispatcher's log position, kept where the next leader finds it, and fenced so
//     that a deposed leader cannot move it back.
//   - Members: heartbeats of the live nodes and their roles, from which each delivering node takes
//     its share of a cluster-wide limit (Share).
//
// NATS holds none of hookd's truth: losing a bucket costs time (a lease campaign, a dispatcher that
// starts again from the start of the log and schedules nothing twice), never a delivery.
package natscoord

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/internal/jsplacement"
)

// replicasFor returns configured when set, else 3 when nc's server is in a cluster and 1 when not,
// as the delivery transport does.
func replicasFor(nc *nats.Conn, configured int) int {
	if configured > 0 {
		return configured
	}
	if nc.ConnectedClusterName() != "" {
		return 3
	}
	return 1
}

// openBucket creates the bucket cfg describes, or opens it as it is when it exists with another
// configuration (its TTL is checked by the callers that depend on it).
//
// A cluster that is still forming refuses to place a replicated bucket for a moment: that is waited
// out (jsplacement).
func openBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Storage = jetstream.FileStorage
	var kv jetstream.KeyValue
	err := jsplacement.Retry(ctx, func() error {
		var err error
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natscoord: bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// openTTLBucket opens the bucket cfg describes, kept on replicas servers (0: as replicasFor
// decides), and refuses one that exists with another TTL than cfg's: what is kept in it (kind, for
// the message) would outlive, or not reach, the timing its users count on.
func openTTLBucket(ctx context.Context, conn *nats.Conn, replicas int, kind string, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	js, err := jetstream.New(conn)
	if err != nil {
		return nil, fmt.Errorf("natscoord: %w", err)
	}
	cfg.Replicas = replicasFor(conn, replicas)
	kv, err := openBucket(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	// A bucket another server made a moment ago may not be known to this one yet: in a cluster
	// whose nodes start together, asking its status answered "stream not found" at times. That is
	// waited out as a placement is (jsplacement.Patience).
	st, err := kv.Status(ctx)
	for deadline := time.Now().Add(jsplacement.Patience); errors.Is(err, jetstream.ErrStreamNotFound) && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("natscoord: bucket %s: %w", cfg.Bucket, err)
		case <-time.After(100 * time.Millisecond):
		}
		st, err = kv.Status(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("natscoord: bucket %s: %w", cfg.Bucket, err)
	}
	if st.TTL() != cfg.TTL {
		return nil, fmt.Errorf("natscoord: bucket %s keeps %s for %s, not the configured %s; delete the bucket or configure its TTL",
			cfg.Bucket, kind, st.TTL(), cfg.TTL)
	}
	return kv, nil
}

// token matches what may stand as one token of a key: a node id or a lease name.
var token = regexp.MustCompile(`^[A-Za-z0-9_=-]+$`)

func checkToken(what, s string) error {
	if !token.MatchString(s) {
		return fmt.Errorf("natscoord: %s %q must be letters, digits, '-', '_' or '=' only", what, s)
	}
	return nil
}
