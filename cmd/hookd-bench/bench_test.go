package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/adapters/webhooksig"
)

// TestMain lets the test binary be the services process too: run starts its own executable as
// `hookd-bench services`, which in a test is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == servicesCommand {
		if err := runServices(context.Background(), os.Stdin, os.Stdout, ""); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunAgainstTheRealBinary runs the instrument as make bench-e2e and bench-cluster do, small: a
// hookd binary built here, 4 closed-loop publishers, 300 events, single and batched on the embedded
// default, spread over 3 webhooks, and 2 nodes of the cluster profile. Every accepted event arrives with valid signatures,
// every figure prints as a number, and the nodes' own counts of their deliveries add up to what the
// receiver had. Speed is not judged.
func TestRunAgainstTheRealBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "hookd")
	if out, err := exec.Command("go", "build", "-o", bin, "../hookd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		batch, nodes, webhooks int
		payload                string
	}{{1, 0, 1, payloadX}, {50, 0, 1, payloadX}, {1, 2, 1, payloadX}, {1, 0, 1, payloadRandom}, {1, 0, 3, payloadX}} {
		t.Run(fmt.Sprintf("batch %d nodes %d webhooks %d payload %s", c.batch, c.nodes, c.webhooks, c.payload), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			o := options{bin: bin, publishers: 4, batch: c.batch, events: 300, wait: time.Minute, size: 1024, nodes: c.nodes,
				webhooks: c.webhooks, payload: c.payload}
			res, err := run(ctx, o, &testWriter{t})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res.print(&out)
			t.Log("\n" + out.String())
			if err := res.verdict(); err != nil {
				t.Fatal(err)
			}
			figures := parseFigures(t, out.String())
			for name, want := range map[string]float64{"lost": 0, "signature failures": 0, "duplicated": 0} {
				if got := figures[name][0]; got != want {
					t.Errorf("%s: %v, want %v", name, got, want)
				}
			}
			if res.accepted != 300 || res.delivered != 300 {
				t.Errorf("%d accepted and %d delivered, want 300 and 300", res.accepted, res.delivered)
			}
			for _, name := range []string{"published/s", "delivered/s end to end", "delivered/s steady", "hookd peak RSS MB",
				"hookd CPU µs per delivery", "load CPU µs per delivery", "hookd bytes written to disk per delivery"} {
				if figures[name][0] <= 0 {
					t.Errorf("%s: %v, want a positive figure", name, figures[name][0])
				}
			}
			if p := figures["accept-to-receive p50/p90/p99 ms"]; len(p) != 3 || p[0] > p[1] || p[1] > p[2] {
				t.Errorf("percentiles %v, want three in order", p)
			}
			if c.nodes == 0 {
				if _, ok := figures["nodes"]; ok {
					t.Error("the embedded default printed the cluster's lines")
				}
				return
			}
			if figures["nodes"][0] != float64(c.nodes) || figures["services CPU µs per delivery"][0] <= 0 {
				t.Errorf("nodes %v, services CPU %v: want %d nodes and a positive figure", figures["nodes"], figures["services CPU µs per delivery"], c.nodes)
			}
			// Every node took publishes (they go to the nodes in turn), so every node spent CPU.
			counted := 0.0
			for i := 1; i <= c.nodes; i++ {
				counted += figures[fmt.Sprintf("node %d deliveries", i)][0]
				if cpu := figures[fmt.Sprintf("node %d CPU µs per delivery", i)]; len(cpu) != 1 {
					t.Errorf("node %d: no CPU figure", i)
				}
				if rss := figures[fmt.Sprintf("node %d peak RSS MB", i)]; len(rss) != 1 || rss[0] <= 0 {
					t.Errorf("node %d: peak RSS %v", i, rss)
				}
			}
			if counted != 300 {
				t.Errorf("the nodes counted %v successful attempts, want the 300 received", counted)
			}
		})
	}
}

// parseFigures reads "name: number [number...] (detail)" lines; it fails the test on any other line
// or a missing figure.
func parseFigures(t *testing.T, out string) map[string][]float64 {
	t.Helper()
	figures := map[string][]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, rest, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("line %q is not name: figures", line)
		}
		rest, _, _ = strings.Cut(rest, " (")
		for _, field := range strings.Fields(rest) {
			v, err := strconv.ParseFloat(field, 64)
			if err != nil {
				t.Fatalf("line %q: %q is not a number", line, field)
			}
			figures[name] = append(figures[name], v)
		}
	}
	for _, name := range []string{"published/s", "delivered/s end to end", "delivered/s steady", "accept-to-receive p50/p90/p99 ms",
		"lost", "duplicated", "signature failures", "hookd peak RSS MB", "hookd CPU µs per delivery", "load CPU µs per delivery",
		"hookd bytes written to disk per delivery"} {
		if len(figures[name]) == 0 {
			t.Fatalf("no figure %q in\n%s", name, out)
		}
	}
	return figures
}

// TestReceiverRefusesWhatDoesNotVerify signs one delivery as hookd does, then spoils each signature in
// turn: only the intact delivery verifies.
func TestReceiverRefusesWhatDoesNotVerify(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const secret, id, ts = "whsec_c2VjcmV0LWtleS1ieXRlcw==", "msg_1", int64(1700000000)
	body := []byte(`{"version":1,"event":"E_BENCH","payload":{"run":"r","seq":1}}`)
	v1, err := webhooksig.StandardV1(secret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	signed := func() http.Header {
		h := http.Header{}
		h.Set(webhooksig.HeaderCosmo, webhooksig.CosmoSignature(secret, body))
		h.Set(webhooksig.HeaderID, id)
		h.Set(webhooksig.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(webhooksig.HeaderSignature, webhooksig.SignatureHeader(v1, webhooksig.StandardV1a(priv, id, ts, body)))
		return h
	}
	if !verified(secret, pub, signed(), body) {
		t.Fatal("a delivery signed as hookd signs it does not verify")
	}
	spoil := map[string]func(http.Header){
		"cosmo":     func(h http.Header) { h.Set(webhooksig.HeaderCosmo, webhooksig.CosmoSignature("other", body)) },
		"no v1":     func(h http.Header) { h.Set(webhooksig.HeaderSignature, webhooksig.StandardV1a(priv, id, ts, body)) },
		"no v1a":    func(h http.Header) { h.Set(webhooksig.HeaderSignature, v1) },
		"timestamp": func(h http.Header) { h.Set(webhooksig.HeaderTimestamp, strconv.FormatInt(ts+1, 10)) },
		"id":        func(h http.Header) { h.Set(webhooksig.HeaderID, "msg_2") },
	}
	for name, f := range spoil {
		h := signed()
		f(h)
		if verified(secret, pub, h, body) {
			t.Errorf("%s spoiled: the delivery still verifies", name)
		}
	}
	if verified(secret, pub, signed(), append([]byte(" "), body...)) {
		t.Error("a changed body still verifies")
	}
}

// TestReceiverVerifiesWithTheEventsWebhook: a delivery verifies with the secret of the webhook its
// event was published to, by the request it went in, and with no other.
func TestReceiverVerifiesWithTheEventsWebhook(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"whsec_c2VjcmV0LTA=", "whsec_c2VjcmV0LTE=", "whsec_c2VjcmV0LTI="}
	deliver := func(r *receiver, seq int, secret string) {
		id, ts := fmt.Sprintf("msg_%d", seq), time.Now().Unix()
		body := fmt.Appendf(nil, `{"version":1,"event":"E_BENCH","payload":{"run":"r","seq":%d}}`, seq)
		v1, err := webhooksig.StandardV1(secret, id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
		req.Header.Set(webhooksig.HeaderCosmo, webhooksig.CosmoSignature(secret, body))
		req.Header.Set(webhooksig.HeaderID, id)
		req.Header.Set(webhooksig.HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(webhooksig.HeaderSignature, webhooksig.SignatureHeader(v1, webhooksig.StandardV1a(priv, id, ts, body)))
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Two events a request: events 2 and 3 went to the second webhook, 4 and 5 to the third, 6 to
	// the first.
	r := &receiver{secrets: secrets, batch: 2, signingKey: pub, run: "r", ledger: &ledger{}, seen: map[string]struct{}{}}
	deliver(r, 2, secrets[1])
	deliver(r, 3, secrets[1])
	deliver(r, 4, secrets[2])
	if n := r.signatureFailures.Load(); n != 0 {
		t.Fatalf("%d signature failures for deliveries signed with their webhooks' secrets", n)
	}
	deliver(r, 5, secrets[1])
	deliver(r, 6, secrets[2])
	if n := r.signatureFailures.Load(); n != 2 {
		t.Errorf("%d signature failures for 2 deliveries signed with another webhook's secret", n)
	}
}

// TestParseWebhooksFlag: -webhooks defaults to 1 and takes 1 to maxWebhooks.
func TestParseWebhooksFlag(t *testing.T) {
	t.Parallel()
	if o, err := parseFlags(nil, io.Discard); err != nil || o.webhooks != 1 {
		t.Fatalf("default: %d webhooks, %v", o.webhooks, err)
	}
	if o, err := parseFlags([]string{"-webhooks", "200"}, io.Discard); err != nil || o.webhooks != 200 {
		t.Fatalf("-webhooks 200: %d webhooks, %v", o.webhooks, err)
	}
	for _, n := range []string{"0", "-1", strconv.Itoa(maxWebhooks + 1)} {
		if _, err := parseFlags([]string{"-webhooks", n}, io.Discard); err == nil {
			t.Errorf("-webhooks %s accepted", n)
		}
	}
}

// testWriter logs the instrument's progress lines.
type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
