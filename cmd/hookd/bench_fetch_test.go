package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/webhook"
)

// benchWebhooks is how many webhooks the fetch benchmark seeds into one community.
const benchWebhooks = 100_000

// seedWebhooks creates count webhooks in tenant bench, community c1, through the commands (not the
// API, which would spend the benchmark's setup on HTTP). Every other webhook carries the tag "even".
// It returns the keys of a system license and of a service license for the tenant, as an integrator
// would hold. (With licenses in the log, serve issues no bootstrap license.)
func seedWebhooks(b *testing.B, cfg config, count int) (systemLicense, serviceLicense string) {
	b.Helper()
	ctx := context.Background()
	n, err := openNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer n.close()
	const workers = 64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += workers {
				tags := []string{fmt.Sprintf("group-%d", i%10)}
				if i%2 == 0 {
					tags = append(tags, "even")
				}
				_, _, err := n.webhooks.Create(ctx, command.CreateWebhook{
					TenantID: "bench", CommunityID: "c1", CreatedBy: "bench",
					Settings: webhook.Settings{
						Name: fmt.Sprintf("hook %d", i), EventNames: []string{"E_LOGIN", "E_LOGOUT"}, Tags: tags,
						API:          webhook.Endpoint{URL: fmt.Sprintf("https://receiver.example/hooks/%d", i)},
						SuccessCodes: []int{200, 204}, RetryCodes: []int{0, 503}, RetryCount: 2, TTL: 3,
					},
				}, command.Caller{Actor: "bench"})
				if err != nil {
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
	keys := make([]string, 2)
	for i, l := range []command.IssueLicense{
		{Level: license.LevelSystem},
		{Level: license.LevelService, Scope: license.Scope{TenantID: "bench"}},
	} {
		issued, err := n.licenses.Issue(ctx, l, command.Caller{Actor: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = issued.Key
	}
	if err := n.catchUp(ctx); err != nil {
		b.Fatal(err)
	}
	return keys[0], keys[1]
}

// BenchmarkFetchAPI measures authenticated fetches of a page of 25 among 100,000 webhooks of one
// community with a one-tag filter (50,000 match), over HTTP on 127.0.0.1, from 32 concurrent clients.
// Every request carries fresh 1Kosmos headers, as real clients must (request ids are single-use).
// It reports requests/s and the 99th percentile latency; the goal is at least 5,000 requests/s.
//
// It fetches with an integrator's service license, which sees no secrets, and with the system
// license, whose answers open each webhook's sealed credential and secret (and are never cached).
func BenchmarkFetchAPI(b *testing.B) {
	dir := b.TempDir()
	// The benchmark measures the node, not one license's quota.
	cfg := testConfig(b, dir, map[string]string{"HOOKD_LICENSE_RATE": "1000000"})
	cfg.AllowedTimeSpan = time.Hour // the load runs long; replay protection still holds per uuid
	systemLicense, serviceLicense := seedWebhooks(b, cfg, benchWebhooks)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inst, err := start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { cancel(); _ = inst.wait() }()
	url := "http://" + inst.addr

	servicePublicKey := fetchServicePublicKey(b, url)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	for _, bc := range []struct {
		name    string
		license string
		pages   int // pages the requests spread over: 1 is always the first
	}{
		{"service/first-page", serviceLicense, 1},
		{"service/random-page", serviceLicense, benchWebhooks / 2 / 25},
		{"system/first-page", systemLicense, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var mu sync.Mutex
			var latencies []time.Duration
			b.SetParallelism(16)
			b.ResetTimer()
			started := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				caller, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
				if err != nil {
					b.Error(err)
					return
				}
				auth, err := kosmosauth.NewClient(servicePublicKey, caller.Private.Encode())
				if err != nil {
					b.Error(err)
					return
				}
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					page := mrand.IntN(bc.pages)
					body := fmt.Appendf(nil, `{"pIndex":%d,"pSize":25,"tags":["even"]}`, page)
					t0 := time.Now()
					if err := fetchOnce(client, url, auth, bc.license, body); err != nil {
						b.Error(err)
						return
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				latencies = append(latencies, local...)
				mu.Unlock()
			})
			elapsed := time.Since(started)
			b.StopTimer()
			if len(latencies) == 0 {
				return
			}
			slices.Sort(latencies)
			p99 := latencies[int(math.Ceil(0.99*float64(len(latencies))))-1]
			b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		})
	}
}

func fetchOnce(client *http.Client, url string, auth *kosmosauth.Client, license string, body []byte) error {
	hdr, err := auth.Headers(license, "bench", time.Now(), rand.Reader)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, url+"/tenant/bench/community/c1/webhooks/fetch", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(data, fmt.Appendf(nil, `"total":%d`, benchWebhooks/2)) {
		return fmt.Errorf("fetch answered %d: %.200s", resp.StatusCode, data)
	}
	return nil
}
