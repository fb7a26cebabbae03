package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/webhook"
)

// rebuildBenchEvents is the size of the log BenchmarkRebuild rebuilds from: the figure.
const rebuildBenchEvents = 1_000_000

// seedLifecycles appends webhooks whose streams each hold a creation and four changes (update,
// disable, enable, update): count events in all. It appends through the store and codec, as the
// commands do, five events an append, so seeding a million takes seconds rather than minutes.
func seedLifecycles(b *testing.B, n *node, count int) {
	b.Helper()
	const perWebhook = 5
	const workers = 32
	ctx := context.Background()
	md := eventlog.Metadata{Actor: "bench", OccurredAt: time.Now().UTC()}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count/perWebhook; i += workers {
				id := uuid.NewString()
				settings := webhook.Settings{
					Name: fmt.Sprintf("hook %d", i), EventNames: []string{"E_LOGIN"},
					Tags: []string{fmt.Sprintf("group-%d", i%10)}, SuccessCodes: []int{200}, RetryCodes: []int{},
					Query: []webhook.QueryEntry{}, Criteria: webhook.CriteriaAny,
					API: webhook.Endpoint{Type: "POST", URL: "https://receiver.example/" + id, AuthType: webhook.AuthBearer,
						Credential: webhook.Credential{Token: "token-" + id}},
				}
				renamed := settings
				renamed.Name += " (renamed)"
				events := []webhook.Event{
					webhook.Created{WebhookID: id, TenantID: "bench", CommunityID: fmt.Sprintf("c%d", i%4),
						Settings: settings, Secret: "whsec_" + id},
					webhook.Updated{WebhookID: id, Settings: renamed},
					webhook.Disabled{WebhookID: id},
					webhook.Enabled{WebhookID: id},
					webhook.Updated{WebhookID: id, Settings: settings},
				}
				stream := webhook.Stream(id)
				data := make([]eventlog.EventData, len(events))
				for j, e := range events {
					var err error
					if data[j], err = n.codec.Encode(stream, eventlog.EventID(uuid.New()), e, md); err != nil {
						errs <- err
						return
					}
				}
				if _, err := n.store.Append(ctx, stream, eventlog.NoStream(), data); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRebuild rebuilds the webhook read model from a log of a million events (200,000 webhooks,
// five events each) and reports the seconds it takes, events/s and the peak RSS of the rebuild.
// The goal is under 60 s.
func BenchmarkRebuild(b *testing.B) {
	dir := b.TempDir()
	cfg := testConfig(b, dir, nil)
	ctx := context.Background()
	n, err := openNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer n.close()
	seedStart := time.Now()
	seedLifecycles(b, n, rebuildBenchEvents)
	b.Logf("seeded %d events in %s", rebuildBenchEvents, time.Since(seedStart).Round(time.Millisecond))
	var webhooks = n.projections[0]
	if webhooks.Name() != "webhooks" {
		b.Fatalf("the first projection is %s, not webhooks", webhooks.Name())
	}

	b.ResetTimer()
	for range b.N {
		resetPeakRSS(b)
		started := time.Now()
		if err := rebuildOne(ctx, n, webhooks, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(started)
		b.ReportMetric(elapsed.Seconds(), "s/rebuild")
		b.ReportMetric(rebuildBenchEvents/elapsed.Seconds(), "events/s")
		b.ReportMetric(peakRSSMiB(b), "peak-RSS-MiB")
	}
}

// resetPeakRSS starts Linux's count of the process's peak resident memory (VmHWM) over, so the peak
// measured is the rebuild's and not the seeding's.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS (%v): the figure includes the seeding", err)
	}
}

// peakRSSMiB reads the process's peak resident memory since the last reset.
func peakRSSMiB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
