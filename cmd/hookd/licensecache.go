package main

import (
	"context"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/internal/bounded"
	"github.com/hookd/hookd/projections/licenseview"
)

// licenseCacheSize bounds the licenses authentication keeps: one per key in use.
const licenseCacheSize = 10_000

// cachedLicense is a license as read when the licenses read model was committed at at.
type cachedLicense struct {
	at      eventlog.Position
	license licenseview.License
}

// knownLicenses answers authentication's lookups, one per request, from the licenses read model. A
// license is kept while the read model has applied no license event since it was read, so a
// revocation takes effect as soon as it is applied, as without the cache. Unknown keys are not
// kept: anyone can make them up.
type knownLicenses struct {
	n     *node
	cache *bounded.Map[cachedLicense]
}

func (k knownLicenses) ByKeyHash(ctx context.Context, hash string) (licenseview.License, error) {
	if c, ok := k.cache.Get(hash); ok && k.n.licenseView.Unchanged(c.at) {
		return c.license, nil
	}
	at := k.n.licenseRunner.Position()
	l, err := k.n.licenseView.ByKeyHash(ctx, hash)
	if err != nil {
		return l, err
	}
	k.cache.Put(hash, cachedLicense{at: at, license: l})
	return l, nil
}
