package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
)

// headers prints the three 1Kosmos authentication headers for one request, as curl arguments:
//
//	curl $(hookd headers --license KEY) http://127.0.0.1:8080/...
//
// Each request id is single-use, so each curl call needs a fresh run. The caller's key pair is
// made up on the spot unless --private-key names one: the service does not pin callers' keys.
func headers(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("headers", flag.ContinueOnError)
	licenseKey := fs.String("license", "", "the license key (required)")
	baseURL := fs.String("url", "http://"+cfg.Addr, "hookd's base URL, to fetch its public key from")
	servicePublicKey := fs.String("service-public-key", "", "the service's public key (default: fetched from --url)")
	privateKey := fs.String("private-key", "", "the caller's private key, base64 (default: a new one)")
	appID := fs.String("app-id", "hookd-cli", "the appid the request id carries")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *licenseKey == "" {
		return errors.New("headers: --license is required")
	}
	if *servicePublicKey == "" {
		var err error
		if *servicePublicKey, err = fetchPublicKey(ctx, *baseURL); err != nil {
			return err
		}
	}
	if *privateKey == "" {
		pair, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
		if err != nil {
			return err
		}
		*privateKey = pair.Private.Encode()
	}
	h, err := kosmosauth.Headers(*servicePublicKey, *privateKey, *licenseKey, *appID, time.Now(), rand.Reader)
	if err != nil {
		return err
	}
	// Base64 holds no character a shell splits or expands, so the output works unquoted in $(...).
	for _, name := range []string{kosmosauth.HeaderPublicKey, kosmosauth.HeaderLicenseKey, kosmosauth.HeaderRequestID} {
		fmt.Fprintf(stdout, "-H %s:%s ", name, h[name])
	}
	fmt.Fprintln(stdout)
	return nil
}

func fetchPublicKey(ctx context.Context, baseURL string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(baseURL, "/")+"/publickeys", nil)
	if err != nil {
		return "", fmt.Errorf("headers: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("headers: fetching the service's public key (is hookd serve running?): %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		PublicKey string `json:"publicKey"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err != nil || body.PublicKey == "" {
		return "", fmt.Errorf("headers: %s/publickeys answered %s without a public key", baseURL, resp.Status)
	}
	return body.PublicKey, nil
}
