package kosmosauth_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/hookd/hookd/adapters/kosmosauth"
)

// benchHeaders makes n distinct requests' headers ahead of the timer: each request may pass only
// once.
func benchHeaders(b *testing.B, f *fixture, n int) []map[string]string {
	b.Helper()
	hs := make([]map[string]string, n)
	for i := range hs {
		hs[i] = f.headers(b)
	}
	return hs
}

func withBigReplayCache(c *kosmosauth.Config) { c.ReplayCacheSize = 1 << 24 }

// BenchmarkVerify measures one request's authentication (Verify and Commit) with the shared key already cached, the
// steady state of a known caller.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b, withBigReplayCache)
	hs := benchHeaders(b, f, b.N+1)
	ctx := context.Background()
	if _, err := f.verify(hs[b.N]); err != nil { // warms the shared-key cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h := hs[i]
		req, err := f.v.Verify(ctx, h[kosmosauth.HeaderPublicKey], h[kosmosauth.HeaderLicenseKey], h[kosmosauth.HeaderRequestID])
		if err == nil {
			err = f.v.Commit(req)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify from GOMAXPROCS goroutines, to show the locks of the
// two caches under contention.
func BenchmarkVerifyParallel(b *testing.B) {
	f := newFixture(b, withBigReplayCache)
	hs := benchHeaders(b, f, b.N+1)
	ctx := context.Background()
	if _, err := f.verify(hs[b.N]); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h := hs[next.Add(1)-1]
			req, err := f.v.Verify(ctx, h[kosmosauth.HeaderPublicKey], h[kosmosauth.HeaderLicenseKey], h[kosmosauth.HeaderRequestID])
			if err == nil {
				err = f.v.Commit(req)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
