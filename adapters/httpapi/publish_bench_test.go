package httpapi

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/internal/benchcpu"
	"github.com/hookd/hookd/projections/licenseview"
)

// nullLog takes every append and keeps nothing: the benchmark measures the API's work, not the
// store's.
type nullLog struct{ commit atomic.Uint64 }

func (l *nullLog) Append(_ context.Context, _ string, _ eventlog.ExpectedRevision, events []eventlog.EventData) (eventlog.AppendResult, error) {
	n := l.commit.Add(uint64(len(events)))
	return eventlog.AppendResult{Revision: uint64(len(events) - 1), Position: eventlog.Position{Commit: n, Prepare: n}}, nil
}

func (*nullLog) ReadStream(context.Context, string, uint64, int) ([]eventlog.RecordedEvent, error) {
	return nil, nil
}

type serviceKey struct{ kosmoscrypto.PrivateKey }

func (k serviceKey) ServicePrivateKey(context.Context) (kosmoscrypto.PrivateKey, error) {
	return k.PrivateKey, nil
}

type oneLicense licenseview.License

func (l oneLicense) ByKeyHash(_ context.Context, hash string) (licenseview.License, error) {
	if hash != l.KeyHash {
		return licenseview.License{}, license.ErrNotFound
	}
	return licenseview.License(l), nil
}

// plainSealer leaves secrets as they are: published events have none.
type plainSealer struct{}

func (plainSealer) Seal(plain, _ string) (string, error)  { return plain, nil }
func (plainSealer) Open(sealed, _ string) (string, error) { return sealed, nil }

// BenchmarkPublishRequest serves single-event publish requests as hookd-bench sends them (fresh
// 1Kosmos headers from one caller, a 1 KiB event) through the real app, its middleware and the
// real authentication and publish command, with a log that keeps nothing. The headers are made
// ahead of the timer.
func BenchmarkPublishRequest(b *testing.B) {
	service, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	verifier, err := kosmosauth.NewVerifier(kosmosauth.Config{Keys: serviceKey{service.Private}, Now: time.Now,
		ReplayCacheSize: 1 << 24})
	if err != nil {
		b.Fatal(err)
	}
	caller, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	client, err := kosmosauth.NewClient(service.Public.Encode(), caller.Private.Encode())
	if err != nil {
		b.Fatal(err)
	}
	registry, err := eventcodec.NewRegistry(eventcodec.HookdEvents()...)
	if err != nil {
		b.Fatal(err)
	}
	codec, err := eventcodec.New(registry, plainSealer{})
	if err != nil {
		b.Fatal(err)
	}
	events, err := command.NewEvents(&nullLog{}, codec, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	const key = "lic_bench"
	app := newApp(Config{
		Events: events, Verifier: verifier, Version: "bench", AllowedTimeSpan: kosmosauth.DefaultTimeSpan,
		Licenses: oneLicense{ID: "lic-1", KeyHash: command.KeyHash(key), Level: license.LevelService,
			Scope: license.Scope{TenantID: "t1"}},
	})
	handler := app.Handler()

	headers := make([]map[string]string, b.N+1)
	for i := range headers {
		if headers[i], err = client.Headers(key, "hookd-bench", time.Now(), rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
	var ctx fasthttp.RequestCtx
	serve := func(i int) {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod(fiber.MethodPost)
		ctx.Request.SetRequestURI("/tenant/t1/community/c1/events")
		ctx.Request.Header.SetContentType(fiber.MIMEApplicationJSON)
		for name, value := range headers[i] {
			ctx.Request.Header.Set(name, value)
		}
		ctx.Request.SetBody(benchPublishBody)
		handler(&ctx)
		if code := ctx.Response.StatusCode(); code != fiber.StatusAccepted {
			b.Fatalf("status %d: %s", code, ctx.Response.Body())
		}
	}
	serve(b.N) // warms the shared-key cache
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.Start(b)()
	for i := range b.N {
		serve(i)
	}
}
