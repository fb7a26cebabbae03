package readcache

import (
	"context"
	"errors"
	"time"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/projections/licenseview"
)

// licenseCacheSize bounds the licenses authentication keeps: one per key in use.
const licenseCacheSize = 10_000

// UnknownKeyWait bounds how long authentication waits, for a key the licenses read model does not
// know, for that read model to reach the log's head. Another process (hookd license issue) appends
// to the log directly, and serve's subscription sees such appends at its next poll, 200 ms apart: a
// license is valid as soon as the command returns, and a key that is truly unknown is answered 401
// within this bound.
const UnknownKeyWait = 2 * time.Second

// LicenseReader reads licenses by key hash (*licenseview.View).
type LicenseReader interface {
	ByKeyHash(ctx context.Context, hash string) (licenseview.License, error)
	// Unchanged reports whether no license event was applied after at.
	Unchanged(at eventlog.Position) bool
}

// LicenseFollower is the Runner of the licenses read model (*projections.Runner).
type LicenseFollower interface {
	Follower
	// WaitFor returns once the read model has applied the log up to pos.
	WaitFor(ctx context.Context, pos eventlog.Position) error
}

// Licenses answers authentication's lookups, one per request, from the licenses read model.
//
// Its invalidation rule is Answers': a license is kept while the read model has applied no license
// event since it was read, so a revocation takes effect as soon as it is applied, as without the
// cache. Unknown keys are not kept: anyone can make them up. An unknown key is looked up again once
// the read model has caught up with the log as it was when the lookup failed (within
// UnknownKeyWait), so that a license just issued by another process is found.
type Licenses struct {
	view    LicenseReader
	kept    Answers[licenseview.License]
	catchUp *sharedWait
}

// NewLicenses returns the cache over view, which runner keeps up to date; head returns the log's
// last position.
func NewLicenses(view LicenseReader, runner LicenseFollower, head func(context.Context) (eventlog.Position, error)) *Licenses {
	return &Licenses{
		view: view,
		kept: NewAnswers[licenseview.License](licenseCacheSize, runner, view.Unchanged),
		catchUp: newSharedWait(func() error {
			// Not the caller's context: the wait is shared, and must not end with the first caller.
			ctx, cancel := context.WithTimeout(context.Background(), UnknownKeyWait)
			defer cancel()
			pos, err := head(ctx)
			if err != nil {
				return err
			}
			return runner.WaitFor(ctx, pos)
		}),
	}
}

// ByKeyHash returns the license whose key hashes to hash, or license.ErrNotFound.
func (k *Licenses) ByKeyHash(ctx context.Context, hash string) (licenseview.License, error) {
	read := func() (licenseview.License, error) { return k.view.ByKeyHash(ctx, hash) }
	l, err := k.kept.Get(hash, read)
	if !errors.Is(err, license.ErrNotFound) {
		return l, err
	}
	// Unknown to the read model, perhaps only so far. A wait that fails (the log unreachable, the
	// bound passed) leaves the key unknown: the caller hears 401 either way.
	if k.catchUp.wait(ctx) != nil {
		return l, err
	}
	return k.kept.Get(hash, read)
}
