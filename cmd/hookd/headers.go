package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
)

func newHeadersCommand(c *cli) *cobra.Command {
	var o headersOptions
	cmd := &cobra.Command{
		Use:   "headers --license KEY [--url URL]",
		Short: "Print the 1Kosmos auth headers for one curl call",
		Long: `Print the three 1Kosmos authentication headers for one request, as curl arguments:

  curl $(hookd headers --license KEY) http://127.0.0.1:8080/...

Each request id is single-use, so each curl call needs a fresh run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("url") {
				o.baseURL = "http://" + or(c.getenv("HOOKD_ADDR"), defaultAddr)
			}
			return headers(cmd.Context(), o, c.stdout)
		},
	}
	cmd.Flags().StringVar(&o.licenseKey, "license", "", "the license key (required)")
	cmd.Flags().StringVar(&o.baseURL, "url", "", "hookd's base URL, to fetch its public key from (default http://$HOOKD_ADDR)")
	cmd.Flags().StringVar(&o.servicePublicKey, "service-public-key", "", "the service's public key (default: fetched from --url)")
	cmd.Flags().StringVar(&o.privateKey, "private-key", "", "the caller's private key, base64 (default: a new one)")
	cmd.Flags().StringVar(&o.appID, "app-id", "hookd-cli", "the appid the request id carries")
	return cmd
}

// headersOptions are the flags of hookd headers.
type headersOptions struct {
	licenseKey, baseURL, servicePublicKey, privateKey, appID string
}

// headers prints the three 1Kosmos authentication headers for one request, as curl arguments. The
// caller's key pair is made up on the spot unless o.privateKey names one: the service does not pin
// callers' keys.
func headers(ctx context.Context, o headersOptions, stdout io.Writer) error {
	if o.licenseKey == "" {
		return errors.New("headers: --license is required")
	}
	if o.servicePublicKey == "" {
		var err error
		if o.servicePublicKey, err = fetchPublicKey(ctx, o.baseURL); err != nil {
			return err
		}
	}
	if o.privateKey == "" {
		pair, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
		if err != nil {
			return err
		}
		o.privateKey = pair.Private.Encode()
	}
	h, err := kosmosauth.Headers(o.servicePublicKey, o.privateKey, o.licenseKey, o.appID, time.Now(), rand.Reader)
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
