package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	localreceiver "github.com/hookd/hookd/adapters/receiver"
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

// receive serves until ctx ends. It prints "listening on http://ADDR" first, then each request.
func receive(ctx context.Context, o receiveOptions, stdout io.Writer) error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	r, err := localreceiver.New(localreceiver.Config{Secret: o.secret, Status: o.status, HookdURL: o.hookdURL, Out: stdout})
	if err != nil {
		return errors.Join(fmt.Errorf("receive: %w", err), ln.Close())
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
