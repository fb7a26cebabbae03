package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/delivery"
)

// startReceive runs `hookd receive` in-process on a free port until the test ends and returns its
// URL and what it prints.
func startReceive(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := new(syncBuffer)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"receive", "--addr", "127.0.0.1:0"}, args...), func(string) string { return "" }, out, new(bytes.Buffer))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hookd receive stopped with %v", err)
		}
	})
	listening := regexp.MustCompile(`^listening on (http://127\.0\.0\.1:\d+)\n`)
	apiEventually(t, 30*time.Second, "hookd receive does not say where it listens", func() bool {
		return listening.MatchString(out.String())
	})
	return listening.FindStringSubmatch(out.String())[1], out
}

// TestReceiveVerifiesARealDelivery: a running hookd delivers to `hookd receive`, which prints the
// delivery and which of its signatures verify: all three with the webhook's secret, and v1a alone
// with a wrong one, answering the status it was given.
func TestReceiveVerifiesARealDelivery(t *testing.T) {
	t.Parallel()
	h := startHookd(t, deliveryEnv)
	scope := apiScope("t1", "c1")
	rightURL, right := startReceive(t, "--secret", testSecret, "--hookd", h.url)
	wrongURL, wrong := startReceive(t, "--secret", "whsec_"+strings.Repeat("A", 32), "--hookd", h.url, "--status", "503")
	webhookTo := func(url string) apiWebhookJSON {
		return apiCreate(h, h.license, scope, map[string]any{
			"eventNames": []string{"E_LOGIN"}, "name": url, "secret": testSecret,
			"api": map[string]any{"url": url + "/hook"}, "successCodes": []int{200}, "retryCount": 0,
		})
	}
	good, bad := webhookTo(rightURL), webhookTo(wrongURL)
	var published struct{ ID string }
	apiPublish(h, h.license, scope, map[string]any{"eventName": "E_LOGIN", "payload": map[string]any{"user": "zoë"}}, &published)

	for _, c := range []struct {
		out     *syncBuffer
		hook    apiWebhookJSON
		status  string
		results []string
	}{
		{right, good, "200", []string{
			`X-Cosmo-Signature-256: +verified`,
			`Standard Webhooks v1: +verified`,
			`Standard Webhooks v1a: +verified \(key \S+ from ` + regexp.QuoteMeta(h.url) + `/\.well-known\)`,
		}},
		{wrong, bad, "503", []string{
			`X-Cosmo-Signature-256: +FAILED \(not the HMAC of the body with the secret\)`,
			`Standard Webhooks v1: +FAILED \(`,
			`Standard Webhooks v1a: +verified`,
		}},
	} {
		apiEventually(t, 20*time.Second, "no delivery printed", func() bool { return strings.Contains(c.out.String(), "answered ") })
		printed := c.out.String()
		id := deliveryIDOf(t, h, published.ID, c.hook.ID)
		for _, want := range append(c.results,
			`--- POST /hook HTTP/1\.1 at `,
			`Webhook-Id: `+id,
			`Webhook-Signature: v1,\S+ v1a,\S+`,
			`body \(\d+ bytes\): \{"version":1,"event":"E_LOGIN","payload":\{"user":"zoë"\}\}`,
			`answered `+c.status,
		) {
			if !regexp.MustCompile(`(?m)^` + want).MatchString(printed) {
				t.Errorf("hookd receive printed no line matching %s:\n%s", want, printed)
			}
		}
		// The status answered is the one hookd recorded.
		d := waitDelivery(t, h, id)
		if c.status == "200" && d.Status() != delivery.StatusSucceeded || c.status == "503" && d.Status() != delivery.StatusFailed {
			t.Errorf("delivery %s to the receiver answering %s: %v", id, c.status, d.Status())
		}
	}
}
