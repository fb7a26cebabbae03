package webhookview

// Bounds of the View's caches. A decoded webhook takes about 2 KiB, so the webhooks cache holds some
// 20 MiB at most.
const (
	webhooksCacheSize = 10_000
	totalsCacheSize   = 1_000
)

// The View keeps two caches, neither of which any write has to tell about a change:
//
//   - Decoded webhooks, by id. Decoding a stored webhook costs about ten times what the rest of
//     reading it does, and a page holds 25 of them. An entry serves while its Version is the row's
//     version: a webhook at a given revision of its stream is the same value whoever built it, the
//     live Runner or a rebuild.
//   - Totals of filters with several tags, which cost a scan to count. An entry serves while each of
//     the filter's tags still has the same changed position: the log position of the last event that
//     added a webhook to the tag or took one from it, which names the tag's membership whoever built
//     the table.

// cachedTotal is the total of a filter with several tags, and the changed positions of its tags when
// it was counted.
type cachedTotal struct {
	changed []string
	total   int
}

// clone copies the slices of w, so that a caller who changes what a query returned does not change
// the cache.
func (w Webhook) clone() Webhook {
	w.Settings = w.Settings.Clone()
	return w
}
