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

// The tenant the run publishes in.
const tenant = "bench"

// run starts hookd (one node on the embedded default, or with -nodes the services process and that
// many nodes in the cluster profile), creates the webhooks, publishes, waits for the deliveries and
// measures. progress receives a line about each stage.
func run(ctx context.Context, o options, progress io.Writer) (*result, error) {
	license := "hookd-bench-" + hex.EncodeToString(random(16))
	env := []string{"HOOKD_BOOTSTRAP_LICENSE_KEY=" + license}
	var svc *services
	if o.nodes > 0 {
		var err error
		if svc, err = startServices(ctx, o.servicesPprof); err != nil {
			return nil, err
		}
		defer svc.stop()
		fmt.Fprintf(progress, "hookd-bench: services (pid %d): KurrentDB test server %s, NATS %s\n",
			svc.cmd.Process.Pid, svc.KurrentDB, svc.NATS)
		env = append(env, "HOOKD_EVENTSTORE=kurrentdb", "HOOKD_KURRENTDB_URL="+svc.KurrentDB, "HOOKD_NATS_URL="+svc.NATS,
			"HOOKD_MASTER_KEY="+base64.StdEncoding.EncodeToString(random(32)))
	}
	// One after another: the first node creates the service keys and the license in the shared log,
	// the others find them there.
	var nodes []*hookd
	defer func() {
		for _, h := range nodes {
			h.stop()
		}
	}()
	for i := range max(o.nodes, 1) {
		nodeEnv := append(env[:len(env):len(env)], fmt.Sprintf("HOOKD_NODE_ID=bench-node%d", i+1))
		if i == 0 && o.pprof != "" {
			nodeEnv = append(nodeEnv, "HOOKD_PPROF_ADDR="+o.pprof)
		}
		h, err := startHookd(ctx, o.bin, progress, nodeEnv...)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		nodes = append(nodes, h)
	}
	urls := make([]string, len(nodes))
	for i, h := range nodes {
		urls[i] = h.url
	}
	servicePublicKey, signingKey, err := serviceKeys(ctx, urls[0])
	if err != nil {
		return nil, err
	}

	runTag := hex.EncodeToString(random(8))
	secrets := make([]string, o.webhooks)
	for i := range secrets {
		secrets[i] = webhooksig.SecretPrefix + base64.StdEncoding.EncodeToString(random(32))
	}
	l := &ledger{}
	recv := &receiver{secrets: secrets, batch: o.batch, signingKey: signingKey, run: runTag, ledger: l, seen: map[string]struct{}{}}
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
		if pubs[i], err = newPublisher(urls, license, servicePublicKey, client); err != nil {
			return nil, err
		}
	}
	// Each webhook has a community of its own, so that every event matches one webhook and is
	// delivered once.
	scopes, ids := make([]string, o.webhooks), make([]string, o.webhooks)
	paths := make([]string, o.webhooks)
	for i := range scopes {
		scopes[i] = fmt.Sprintf("/tenant/%s/community/c%d", tenant, i+1)
		paths[i] = scopes[i] + "/events"
		if ids[i], err = createWebhook(ctx, pubs[0], scopes[i], "http://"+ln.Addr().String()+"/hook", secrets[i]); err != nil {
			return nil, err
		}
	}
	// The dispatching node matches events with its own read model: publish once every node shows
	// every webhook, so that no event is dispatched before its webhook is known.
	for i := range scopes {
		if err := awaitWebhook(ctx, pubs[0], scopes[i], ids[i]); err != nil {
			return nil, err
		}
	}

	hookdBefore, err := sampleNodes(ctx, nodes)
	if err != nil {
		return nil, err
	}
	var svcBefore usage
	if svc != nil {
		if svcBefore, err = procUsage(svc.cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	selfBefore := selfCPU()
	for i, h := range nodes {
		fmt.Fprintf(progress, "hookd-bench: node %d %s (pid %d, data directory %s) ready\n", i+1, h.url, h.cmd.Process.Pid, h.dataDir)
	}
	fmt.Fprintln(progress, "hookd-bench: publishing")
	ld := &load{o: o, paths: paths, events: newEvents(runTag, o.size, o.payload), ledger: l}
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

	res := measure(start, published, l)
	res.duplicates = int(recv.duplicates.Load())
	hookdAfter, err := countedAttempts(ctx, nodes, hookdBefore, res.delivered+res.duplicates)
	if err != nil {
		return nil, err
	}
	if svc != nil {
		svcAfter, err := procUsage(svc.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		res.servicesCPU = svcAfter.cpu - svcBefore.cpu
		res.servicesWritten = svcAfter.writeBytes - svcBefore.writeBytes
	}
	rss := make([]int64, len(nodes))
	for i, h := range nodes {
		if rss[i], err = peakRSS(h.cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	res.cluster = o.nodes > 0
	res.nodes = nodeDeltas(hookdBefore, hookdAfter, rss)
	total := sumNodes(res.nodes)
	res.publishFailures = int(ld.failed.Load())
	res.lateRequests = int(ld.late.Load())
	if e, ok := ld.lastErr.Load().(string); ok {
		res.lastPublishError = e
	}
	res.signatureFailures = int(recv.signatureFailures.Load())
	res.foreign = int(recv.foreign.Load())
	res.peakRSS = total.peakRSS
	res.hookdCPU = total.cpu
	res.loadCPU = selfCPU() - selfBefore
	res.hookdWritten = total.written
	return res, ctx.Err()
}

// countedAttempts samples the nodes once they have counted the receipts' attempts: a node counts an
// attempt once it is in the log, a moment after the receiver has it. It gives up after 10 s, when a
// node shows fewer than the receiver had (the figures then say so).
func countedAttempts(ctx context.Context, nodes []*hookd, before []nodeSample, receipts int) ([]nodeSample, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, err := sampleNodes(ctx, nodes)
		if err != nil {
			return nil, err
		}
		counted := 0
		for i := range after {
			counted += int(after[i].delivered - before[i].delivered)
		}
		if counted >= receipts || time.Now().After(deadline) || ctx.Err() != nil {
			return after, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
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

// createWebhook subscribes target to eventName in scope with the secret, counting only 200 as
// success, on the first node, and returns its id.
func createWebhook(ctx context.Context, p *publisher, scope, target, secret string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"name": "hookd-bench", "eventNames": []string{eventName}, "criteria": "ANY", "disabled": false,
		"createdBy": "hookd-bench", "secret": secret, "successCodes": []int{200},
		"api": map[string]any{"type": "POST", "url": target, "authType": "none"},
	})
	status, answer, err := p.call(ctx, 0, http.MethodPut, scope+"/webhook", body)
	if err != nil {
		return "", fmt.Errorf("creating the webhook: %w", err)
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return "", fmt.Errorf("creating the webhook: %d %s", status, answer)
	}
	var created struct {
		ID string `json:"_id"`
	}
	if err := json.Unmarshal(answer, &created); err != nil || created.ID == "" {
		return "", fmt.Errorf("creating the webhook: no id in %s", answer)
	}
	return created.ID, nil
}

// awaitWebhook waits until every node answers the webhook id (60 s at most).
func awaitWebhook(ctx context.Context, p *publisher, scope, id string) error {
	deadline := time.Now().Add(time.Minute)
	for node := range p.urls {
		for {
			status, answer, err := p.call(ctx, node, http.MethodGet, scope+"/webhook/"+id, nil)
			if err == nil && status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("node %d does not show the webhook within 60 s: %d %s %v", node+1, status, answer, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
