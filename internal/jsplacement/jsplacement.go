// Package jsplacement waits out a NATS cluster that is still forming. Right after its servers start
// (or one comes back), JetStream refuses to place a replicated stream or bucket until enough servers
// are current ("no suitable peers for placement"); nothing is wrong that waiting does not mend, so
// whoever creates one tries again for a while.
package jsplacement

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Patience bounds how long Retry waits for a forming cluster.
const Patience = 30 * time.Second

// errCodeNoPeers is JetStream's "no suitable peers for placement".
const errCodeNoPeers jetstream.ErrorCode = 10005

// NoPeersYet reports whether err is JetStream refusing a placement for want of current servers.
func NoPeersYet(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeNoPeers
}

// Retry calls create until it succeeds, fails otherwise than for placement, Patience has passed or
// ctx ends; it returns create's last error (joined with ctx's when ctx ended).
func Retry(ctx context.Context, create func() error) error {
	giveUp := time.Now().Add(Patience)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := create()
		if err == nil || !NoPeersYet(err) || time.Now().After(giveUp) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}
