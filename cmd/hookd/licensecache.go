package main

import (
	"context"

	"github.com/hookd/hookd/projections/licenseview"
)

// licenseCacheSize bounds the licenses authentication keeps: one per key in use.
const licenseCacheSize = 10_000

// knownLicenses answers authentication's lookups, one per request, from the licenses read model. A
// license is kept while the read model has applied no license event since it was read, so a
// revocation takes effect as soon as it is applied, as without the cache. Unknown keys are not
// kept: anyone can make them up.
type knownLicenses struct {
	view *licenseview.View
	kept keptAnswers[licenseview.License]
}

func newKnownLicenses(n *node) knownLicenses {
	return knownLicenses{view: n.licenseView,
		kept: newKeptAnswers[licenseview.License](licenseCacheSize, n.licenseRunner, n.licenseView.Unchanged)}
}

func (k knownLicenses) ByKeyHash(ctx context.Context, hash string) (licenseview.License, error) {
	return k.kept.get(hash, func() (licenseview.License, error) { return k.view.ByKeyHash(ctx, hash) })
}
