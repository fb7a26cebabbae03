package httpapi

import (
	"encoding/json"
	"strconv"

	"github.com/hookd/hookd/projections/webhookview"
)

// renderedCacheSize bounds each cache of rendered webhooks: at well under 1 KiB each, some 10 MiB.
const renderedCacheSize = 10_000

// rendered is a webhook's JSON at one version of the webhook, in one of its two forms: as non-system
// readers see it (no credential, no secret) or as system readers do (both opened). Each form depends
// on the webhook's version alone, so it is rendered once and served from the cache while the version
// holds: a fetch then splices cached bytes instead of opening secrets and encoding 25 documents.
//
// The system form holds the opened credential and secret in memory. The process holds the master
// key that opens them all, and opens them for every delivery, so the cache exposes nothing a look at
// its memory would not; it is what lets system readers fetch as fast as integrators.
type rendered struct {
	version uint64
	json    []byte
}

// webhookDocument returns the JSON of a webhook from the read model, as the reader may see it.
func (s *server) webhookDocument(w webhookview.Webhook, system bool) ([]byte, error) {
	cache := s.rendered
	if system {
		cache = s.renderedSystem
	}
	if r, ok := cache.Get(w.ID); ok && r.version == w.Version {
		return r.json, nil
	}
	out, err := s.viewJSON(w, system)
	if err != nil {
		return nil, err
	}
	doc, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	cache.Put(w.ID, rendered{version: w.Version, json: doc})
	return doc, nil
}

// appendFetchAnswer appends the fetch answer, {"page":{...},"data":[...],"publicKey":...}, written
// around the webhooks' documents rather than encoded whole: encoding would check and copy each
// document again.
func appendFetchAnswer(b []byte, page pageJSON, docs [][]byte, publicKey string) []byte {
	b = append(b, `{"page":{"index":`...)
	b = strconv.AppendInt(b, int64(page.Index), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(page.Total), 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(page.Size), 10)
	b = append(b, `},"data":[`...)
	for i, d := range docs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d...)
	}
	b = append(b, `],"publicKey":`...)
	key, _ := json.Marshal(publicKey) // a string always encodes
	b = append(b, key...)
	return append(b, '}')
}

// appendMatchAnswer appends the match answer, {"data":[...]}, written around the webhooks' documents
// as appendFetchAnswer writes them.
func appendMatchAnswer(b []byte, docs [][]byte) []byte {
	b = append(b, `{"data":[`...)
	for i, d := range docs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d...)
	}
	return append(b, "]}"...)
}
