package webhookview_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/webhookview"
)

// BenchmarkFetch measures one fetch of a page of 25 among 100,000 webhooks of one community: the
// issue's fetch figure without HTTP and authentication. Every webhook carries "prod"; every second one
// "blue", every third one "green". The view is seeded once, through Apply in batches of 5,000.
//
//	go test -run '^$' -bench BenchmarkFetch -benchtime 2s ./projections/webhookview/
func BenchmarkFetch(b *testing.B) {
	const webhooks = 100_000
	f := newFixture(b)
	started := time.Now()
	for i := range webhooks {
		tags := []string{"prod"}
		if i%2 == 0 {
			tags = append(tags, "blue")
		}
		if i%3 == 0 {
			tags = append(tags, "green")
		}
		f.create("tenant-1", "community-1", tags...)
		if len(f.pending) == 5000 {
			f.flush()
		}
	}
	f.flush()
	b.Logf("seeded %d webhooks in %v", webhooks, time.Since(started))
	var someID string
	for someID = range f.hooks {
		break
	}
	f.hooks = nil // the aggregates are not needed any more; a server's heap would not hold them either

	for _, bc := range []struct {
		name  string
		tags  []string
		index int
		total int
	}{
		{"no-filter/first-page", nil, 0, webhooks},
		{"no-filter/middle-page", nil, 2000, webhooks},
		{"tag/first-page", []string{"blue"}, 0, webhooks / 2},
		{"tag/middle-page", []string{"blue"}, 1000, webhooks / 2},
		{"tag/last-page", []string{"blue"}, 1999, webhooks / 2},
		{"two-tags/first-page", []string{"blue", "green"}, 0, 16667},
		{"two-tags/middle-page", []string{"blue", "green"}, 333, 16667},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			q := webhookview.FetchQuery{TenantID: "tenant-1", CommunityID: "community-1", Tags: bc.tags, PageIndex: bc.index, PageSize: 25}
			defer reportCPU(b)()
			for b.Loop() {
				page, err := f.view.Fetch(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if page.Total != bc.total || len(page.Items) != 25 {
					b.Fatalf("%d items of %d, want 25 of %d", len(page.Items), page.Total, bc.total)
				}
			}
		})
	}
	// Every page of the tag in turn: 50,000 webhooks, more than the view's cache of decoded ones
	// holds, so nearly every webhook is read and decoded. This is the cost of a cold page.
	b.Run("tag/every-page-uncached", func(b *testing.B) {
		ctx := context.Background()
		index := 0
		defer reportCPU(b)()
		for b.Loop() {
			q := webhookview.FetchQuery{TenantID: "tenant-1", CommunityID: "community-1", Tags: []string{"blue"}, PageIndex: index, PageSize: 25}
			page, err := f.view.Fetch(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			if len(page.Items) != 25 {
				b.Fatalf("page %d has %d items", index, len(page.Items))
			}
			index = (index + 1) % (webhooks / 2 / 25)
		}
	})
	b.Run("get", func(b *testing.B) {
		ctx := context.Background()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := f.view.Get(ctx, "tenant-1", "community-1", someID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU starts counting the process's CPU time; the function it returns reports it per op
// (cpu-ns/op), which says more than wall time on a machine whose cores are shared.
func reportCPU(b *testing.B) func() {
	started := cpuTime(b)
	return func() { b.ReportMetric(float64(cpuTime(b)-started)/float64(b.N), "cpu-ns/op") }
}

// cpuTime is the CPU the process has spent, user and system.
func cpuTime(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// BenchmarkSubscribers measures what the dispatcher asks for every published event: the webhooks of a
// community that subscribe to its name. The community holds 10,000 webhooks, of which one listens to
// the name asked for; "alone" is that one webhook in a community of its own. The two must cost about
// the same.
//
//	go test -run '^$' -bench BenchmarkSubscribers -benchtime 2s ./projections/webhookview/
func BenchmarkSubscribers(b *testing.B) {
	const webhooks = 10_000
	f := newFixture(b)
	crowd, alone := settings(), settings()
	crowd.EventNames = []string{"E_COMMON", "E_OTHER"}
	alone.EventNames = []string{"E_RARE"}
	for i := range webhooks - 1 {
		f.createWith(webhook.Creation{TenantID: "tenant-1", CommunityID: "crowded", Settings: crowd})
		if i == webhooks/2 { // the one that matches is in the middle, not at an end of the key
			f.createWith(webhook.Creation{TenantID: "tenant-1", CommunityID: "crowded", Settings: alone})
		}
	}
	f.createWith(webhook.Creation{TenantID: "tenant-1", CommunityID: "alone", Settings: alone})
	f.flush()
	f.hooks = nil

	for _, bc := range []struct{ name, community string }{
		{"1-of-10000", "crowded"},
		{"alone", "alone"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				items, err := f.view.Subscribers(ctx, "tenant-1", bc.community, "E_RARE")
				if err != nil {
					b.Fatal(err)
				}
				if len(items) != 1 {
					b.Fatalf("%d subscribers, want 1", len(items))
				}
			}
		})
	}
}
