package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/adapters/webhooksig"
)

// receiveOptions are the flags of hookd receive.
type receiveOptions struct {
	addr, secret, hookdURL string
	status                 int
}

func newReceiveCommand(c *cli) *cobra.Command {
	var o receiveOptions
	cmd := &cobra.Command{
		Use:   "receive [--addr 127.0.0.1:9000] [--secret whsec_...] [--status 200] [--hookd URL]",
		Short: "Run a local webhook receiver that prints and verifies each delivery",
		Long: `Run a webhook receiver for local development: it prints each request it gets (the headers that
matter and the body), checks its signatures and answers --status.

  X-Cosmo-Signature-256   Cosmo's: hex HMAC-SHA256 of the body, keyed with --secret as it is
  Standard Webhooks v1    HMAC with --secret, checked by the official Standard Webhooks library
  Standard Webhooks v1a   ed25519, checked against the keys hookd publishes at --hookd's /.well-known

A webhook on a loopback address needs HOOKD_ALLOW_PRIVATE_TARGETS=true on serve. Stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.status < 100 || o.status > 599 {
				return fmt.Errorf("receive: --status %d must be an HTTP status, 100 to 599", o.status)
			}
			if !cmd.Flags().Changed("hookd") {
				o.hookdURL = "http://" + or(c.getenv("HOOKD_ADDR"), defaultAddr)
			}
			return receive(cmd.Context(), o, c.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:9000", "address to listen on (port 0: any free port)")
	f.StringVar(&o.secret, "secret", "", "the webhook's secret, to verify X-Cosmo-Signature-256 and v1 (default: not checked)")
	f.IntVar(&o.status, "status", http.StatusOK, "the HTTP status to answer")
	f.StringVar(&o.hookdURL, "hookd", "", "hookd's base URL, whose /.well-known keys verify v1a (default http://$HOOKD_ADDR)")
	return cmd
}

// maxReceivedBody bounds what the receiver reads of a request: hookd's bodies stay well under it.
const maxReceivedBody = 4 << 20

// receive serves until ctx ends. It prints "listening on http://ADDR" first, then each request.
func receive(ctx context.Context, o receiveOptions, stdout io.Writer) error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	r := &deliveryPrinter{opts: o, out: stdout, keys: &signingKeys{url: strings.TrimSuffix(o.hookdURL, "/") + "/.well-known"}}
	if o.secret != "" {
		if r.v1, err = newStandardVerifier(o.secret); err != nil {
			return errors.Join(fmt.Errorf("receive: --secret: %w", err), ln.Close())
		}
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("receive: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// newStandardVerifier is the official library's verifier for a secret as hookd signs with it: a
// whsec_ secret's key is its base64 remainder, any other secret's key its own bytes.
func newStandardVerifier(secret string) (*standardwebhooks.Webhook, error) {
	if strings.HasPrefix(secret, webhooksig.SecretPrefix) {
		return standardwebhooks.NewWebhook(secret)
	}
	return standardwebhooks.NewWebhookRaw([]byte(secret))
}

// deliveryPrinter prints and verifies each request.
type deliveryPrinter struct {
	opts receiveOptions
	v1   *standardwebhooks.Webhook // nil without --secret
	keys *signingKeys
	// mu keeps the reports of requests that arrive together apart.
	mu  sync.Mutex
	out io.Writer
}

// headersShown are the request headers the receiver prints, in this order.
var headersShown = []string{"Content-Type", "User-Agent", "Authorization", webhooksig.HeaderID,
	webhooksig.HeaderTimestamp, webhooksig.HeaderSignature, webhooksig.HeaderCosmo}

func (r *deliveryPrinter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxReceivedBody))
	var report bytes.Buffer
	fmt.Fprintf(&report, "--- %s %s %s at %s\n", req.Method, req.URL.RequestURI(), req.Proto, time.Now().UTC().Format(time.RFC3339Nano))
	for _, name := range headersShown {
		if v := req.Header.Get(name); v != "" {
			if name == "Authorization" {
				v = maskCredential(v)
			}
			fmt.Fprintf(&report, "%s: %s\n", http.CanonicalHeaderKey(name), v)
		}
	}
	if err != nil {
		fmt.Fprintf(&report, "body: not read: %v\n", err)
	} else {
		fmt.Fprintf(&report, "body (%d bytes): %s\n", len(body), body)
		for _, line := range r.verify(req.Context(), req.Header, body) {
			fmt.Fprintf(&report, "%s\n", line)
		}
	}
	fmt.Fprintf(&report, "answered %d\n", r.opts.status)
	w.WriteHeader(r.opts.status)
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.out.Write(report.Bytes())
}

// maskCredential keeps an Authorization header's scheme and hides the credential.
func maskCredential(v string) string {
	if scheme, _, ok := strings.Cut(v, " "); ok {
		return scheme + " …"
	}
	return "…"
}

// Verification results, as the receiver prints them.
const (
	verified = "verified"
	failed   = "FAILED"
)

// verify checks each signature the request carries and says, one line each, what came of it.
func (r *deliveryPrinter) verify(ctx context.Context, h http.Header, body []byte) []string {
	var lines []string
	result := func(name, outcome string) { lines = append(lines, fmt.Sprintf("%-22s %s", name+":", outcome)) }

	cosmo := h.Get(webhooksig.HeaderCosmo)
	switch {
	case cosmo == "":
		result("X-Cosmo-Signature-256", "absent")
	case r.opts.secret == "":
		result("X-Cosmo-Signature-256", "not checked (no --secret)")
	case hmac.Equal([]byte(cosmo), []byte(webhooksig.CosmoSignature(r.opts.secret, body))):
		result("X-Cosmo-Signature-256", verified)
	default:
		result("X-Cosmo-Signature-256", failed+" (not the HMAC of the body with --secret)")
	}

	entries := strings.Fields(h.Get(webhooksig.HeaderSignature))
	hasV1 := false
	var v1a []string
	for _, e := range entries {
		if strings.HasPrefix(e, "v1,") {
			hasV1 = true
		}
		if sig, ok := strings.CutPrefix(e, "v1a,"); ok {
			v1a = append(v1a, sig)
		}
	}
	switch {
	case !hasV1:
		result("Standard Webhooks v1", "absent")
	case r.v1 == nil:
		result("Standard Webhooks v1", "not checked (no --secret)")
	default:
		if err := r.v1.Verify(body, h); err != nil {
			result("Standard Webhooks v1", failed+" ("+err.Error()+")")
		} else {
			result("Standard Webhooks v1", verified)
		}
	}

	if len(v1a) == 0 {
		result("Standard Webhooks v1a", "absent")
		return lines
	}
	signed := h.Get(webhooksig.HeaderID) + "." + h.Get(webhooksig.HeaderTimestamp) + "." + string(body)
	check := func(keys []publishedKey) (string, bool) {
		for _, k := range keys {
			for _, sig := range v1a {
				raw, err := base64.StdEncoding.DecodeString(sig)
				if err == nil && ed25519.Verify(k.key, []byte(signed), raw) {
					return k.id, true
				}
			}
		}
		return "", false
	}
	keys, err := r.keys.get(ctx, false)
	if err != nil {
		result("Standard Webhooks v1a", "not checked ("+err.Error()+")")
		return lines
	}
	id, ok := check(keys)
	if !ok {
		// The service's signing key may have been reset since it was fetched.
		if keys, err = r.keys.get(ctx, true); err == nil {
			id, ok = check(keys)
		}
	}
	if ok {
		result("Standard Webhooks v1a", verified+" (key "+id+" from "+r.keys.url+")")
	} else {
		result("Standard Webhooks v1a", failed+" (no key of "+r.keys.url+" verifies it)")
	}
	return lines
}

// publishedKey is a v1a verification key /.well-known publishes.
type publishedKey struct {
	id  string
	key ed25519.PublicKey
}

// signingKeys fetches hookd's /.well-known keys once, and again when asked to.
type signingKeys struct {
	url  string
	mu   sync.Mutex
	keys []publishedKey
}

func (s *signingKeys) get(ctx context.Context, refresh bool) ([]publishedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys != nil && !refresh {
		return s.keys, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the signing keys: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Keys []struct {
			KeyID     string `json:"keyId"`
			PublicKey string `json:"publicKey"`
		} `json:"webhook_signing_keys"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", s.url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %w", s.url, err)
	}
	var keys []publishedKey
	for _, k := range body.Keys {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(k.PublicKey, webhooksig.PublicKeyPrefix))
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%s: key %s is not a %s ed25519 key", s.url, k.KeyID, webhooksig.PublicKeyPrefix)
		}
		keys = append(keys, publishedKey{id: k.KeyID, key: raw})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s publishes no signing key", s.url)
	}
	s.keys = keys
	return keys, nil
}
