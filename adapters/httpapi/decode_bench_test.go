package httpapi

import (
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/hookd/hookd/internal/benchcpu"
)

// benchPublishBody is one event as hookd-bench publishes it: about 1 KiB.
var benchPublishBody = []byte(`{"eventName":"E_BENCH","payload":{"run":"r-1","seq":42,"pad":"` +
	strings.Repeat("x", 964) + `"}}`)

// BenchmarkDecodePublishBody decodes a publish request's body as publishEvents does, in a Fiber
// context of a real app.
func BenchmarkDecodePublishBody(b *testing.B) {
	app := fiber.New()
	var fctx fasthttp.RequestCtx
	fctx.Request.Header.SetMethod(fiber.MethodPost)
	fctx.Request.Header.SetContentType(fiber.MIMEApplicationJSON)
	fctx.Request.SetBody(benchPublishBody)
	c := app.AcquireCtx(&fctx)
	defer app.ReleaseCtx(c)
	b.ReportAllocs()
	defer benchcpu.Start(b)()
	for b.Loop() {
		if _, err := decodePublishBody(c); err != nil {
			b.Fatal(err)
		}
	}
}
