package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd/adapters/webhooksig"
)

// The scope the run publishes in.
const tenant, community = "bench", "c1"

// run starts hookd, creates the webhook, publishes, waits for the deliveries and measures. progress
// receives a line about each stage.
func run(ctx context.Context, o options, progress io.Writer) (*result, error) {
	h, err := startHookd(ctx, o.bin)
	if err != nil {
		return nil, err
	}
	defer h.stop()
	license, err := h.license()
	if err != nil {
		return nil, err
	}
	servicePublicKey, signingKey, err := serviceKeys(ctx, h.url)
	if err != nil {
		return nil, err
	}

	runTag := hex.EncodeToString(random(8))
	secret := webhooksig.SecretPrefix + base64.StdEncoding.EncodeToString(random(32))
	l := &ledger{}
	recv := &receiver{secret: secret, signingKey: signingKey, run: runTag, ledger: l, seen: map[string]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: recv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: 2 * o.publishers, MaxIdleConnsPerHost: 2 * o.publishers, IdleConnTimeout: time.Minute,
	}}
	defer client.CloseIdleConnections()
	pubs := make([]*publisher, o.publishers)
	for i := range pubs {
		if pubs[i], err = newPublisher(h.url, license, servicePublicKey, client); err != nil {
			return nil, err
		}
	}
	scope := fmt.Sprintf("/tenant/%s/community/%s", tenant, community)
	if err := createWebhook(ctx, pubs[0], scope, "http://"+ln.Addr().String()+"/hook", secret); err != nil {
		return nil, err
	}

	pid := h.cmd.Process.Pid
	hookdBefore, err := procUsage(pid)
	if err != nil {
		return nil, err
	}
	selfBefore := selfCPU()
	fmt.Fprintf(progress, "hookd-bench: hookd %s (pid %d) ready; publishing\n", h.url, pid)
	ld := &load{o: o, path: scope + "/events", events: newEvents(runTag, o.size), ledger: l}
	start := time.Now()
	ld.run(ctx, pubs)
	published := time.Since(start)
	fmt.Fprintf(progress, "hookd-bench: published for %.1f s; waiting up to %s for %d deliveries\n",
		published.Seconds(), o.wait, l.outstanding())
	for deadline := time.Now().Add(o.wait); l.outstanding() > 0 && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(20 * time.Millisecond)
	}
	// hookd may still be retrying or re-delivering: a short grace lets duplicates show.
	time.Sleep(200 * time.Millisecond)

	hookdAfter, err := procUsage(pid)
	if err != nil {
		return nil, err
	}
	rss, err := peakRSS(pid)
	if err != nil {
		return nil, err
	}
	res := measure(start, published, l)
	res.publishFailures = int(ld.failed.Load())
	res.lateRequests = int(ld.late.Load())
	if e, ok := ld.lastErr.Load().(string); ok {
		res.lastPublishError = e
	}
	res.duplicates = int(recv.duplicates.Load())
	res.signatureFailures = int(recv.signatureFailures.Load())
	res.foreign = int(recv.foreign.Load())
	res.peakRSS = rss
	res.hookdCPU = hookdAfter.cpu - hookdBefore.cpu
	res.loadCPU = selfCPU() - selfBefore
	res.hookdWritten = hookdAfter.writeBytes - hookdBefore.writeBytes
	return res, ctx.Err()
}

// serviceKeys fetches the key callers encrypt their headers to (/publickeys) and the key deliveries'
// v1a signatures verify with (/.well-known).
func serviceKeys(ctx context.Context, url string) (string, ed25519.PublicKey, error) {
	var pk struct {
		PublicKey string `json:"publicKey"`
	}
	if err := getJSON(ctx, url+"/publickeys", &pk); err != nil {
		return "", nil, err
	}
	var wk struct {
		Keys []struct {
			PublicKey string `json:"publicKey"`
		} `json:"webhook_signing_keys"`
	}
	if err := getJSON(ctx, url+"/.well-known", &wk); err != nil {
		return "", nil, err
	}
	if pk.PublicKey == "" || len(wk.Keys) == 0 {
		return "", nil, fmt.Errorf("hookd published no service key (%q) or no signing key (%d)", pk.PublicKey, len(wk.Keys))
	}
	raw, ok := strings.CutPrefix(wk.Keys[0].PublicKey, webhooksig.PublicKeyPrefix)
	key, err := base64.StdEncoding.DecodeString(raw)
	if !ok || err != nil || len(key) != ed25519.PublicKeySize {
		return "", nil, fmt.Errorf("/.well-known: signing key %q is not a whpk_ ed25519 key", wk.Keys[0].PublicKey)
	}
	return pk.PublicKey, ed25519.PublicKey(key), nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

// createWebhook subscribes target to eventName with the secret, counting only 200 as success.
func createWebhook(ctx context.Context, p *publisher, scope, target, secret string) error {
	body, _ := json.Marshal(map[string]any{
		"name": "hookd-bench", "eventNames": []string{eventName}, "criteria": "ANY", "disabled": false,
		"createdBy": "hookd-bench", "secret": secret, "successCodes": []int{200},
		"api": map[string]any{"type": "POST", "url": target, "authType": "none"},
	})
	status, answer, err := p.call(ctx, http.MethodPut, scope+"/webhook", body)
	if err != nil {
		return fmt.Errorf("creating the webhook: %w", err)
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return fmt.Errorf("creating the webhook: %d %s", status, answer)
	}
	return nil
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
