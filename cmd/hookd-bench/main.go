// Command hookd-bench measures hookd as its users see it: it starts `hookd serve` as its own process on
// a fresh data directory, publishes events with real 1Kosmos authentication headers, and receives the
// deliveries on 127.0.0.1, verifying every signature. It prints one figure a line (README.md and
// docs/benchmarks.md explain each) and exits non-zero when an accepted event is lost, a publish fails
// or a signature does not verify. It sends traffic only to 127.0.0.1 and always stops by itself.
//
//	go run ./cmd/hookd-bench -bin bin/hookd -c 64 -duration 60s
//
// With -nodes N it measures the cluster profile instead: it starts itself again as `hookd-bench
// services` (the KurrentDB protocol test server and a 3-server NATS cluster, in a process of their
// own so that their CPU is counted apart), then N `hookd serve` nodes on them, and publishes to the
// nodes in turn.
//
//	go run ./cmd/hookd-bench -bin bin/hookd -nodes 3 -rate 500 -duration 30s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hookd/hookd/application/command"
)

// options are the command's flags.
type options struct {
	bin        string
	publishers int
	rate       float64
	batch      int
	events     int
	duration   time.Duration
	wait       time.Duration
	size       int
	payload    string
	nodes      int
	webhooks   int
	pprof      string
	// servicesPprof is where the services process serves net/http/pprof (empty: it does not).
	servicesPprof string
}

// maxNodes bounds -nodes: the figures are for 1 to 3 nodes, as many as the NATS servers.
const maxNodes = 3

// maxWebhooks bounds -webhooks: the run creates them one request each before it publishes.
const maxWebhooks = 10000

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == servicesCommand {
		if err := runServices(ctx, os.Stdin, os.Stdout, strings.TrimSpace(strings.Join(os.Args[2:], ""))); err != nil {
			fmt.Fprintln(os.Stderr, "hookd-bench services:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	res, err := run(ctx, o, os.Stderr)
	if res != nil {
		res.print(os.Stdout)
	}
	if err == nil {
		err = res.verdict()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookd-bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("hookd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin/hookd", "the hookd binary to start")
	fs.IntVar(&o.publishers, "c", 64, "publishers: closed loop, each sends its next request once the last is answered; with -rate, the cap on requests in flight")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: events per second sent on schedule, whatever the answers (0: closed loop)")
	fs.IntVar(&o.batch, "batch", 1, fmt.Sprintf("events per request, 1 to %d (above 1 the batch form of POST .../events)", command.MaxBatch))
	fs.IntVar(&o.events, "n", 0, "events to publish (0: as many as -duration allows)")
	fs.DurationVar(&o.duration, "duration", 0, "how long to publish (default 60s when -n is not given either)")
	fs.DurationVar(&o.wait, "wait", 2*time.Minute, "how long to wait for outstanding deliveries after the last publish")
	fs.IntVar(&o.size, "size", 1024, "approximate bytes of each event's payload")
	fs.StringVar(&o.payload, "payload", payloadX, "what pads each payload to -size: x (compresses to nearly nothing) or random (fresh random base64 for each event)")
	fs.IntVar(&o.nodes, "nodes", 0, fmt.Sprintf("cluster profile: this many hookd nodes, 1 to %d, on the KurrentDB test server and a %d-server NATS cluster (0: one node on the embedded default)", maxNodes, natsClusterSize))
	fs.IntVar(&o.webhooks, "webhooks", 1, fmt.Sprintf("webhooks, 1 to %d, each in a community of its own with a secret of its own; requests go to them in turn", maxWebhooks))
	fs.StringVar(&o.pprof, "pprof", "", "serve net/http/pprof of the first node on this loopback host:port")
	fs.StringVar(&o.servicesPprof, "services-pprof", "", "with -nodes: serve net/http/pprof of the services process (KurrentDB test server, NATS) on this loopback host:port")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.events == 0 && o.duration == 0 {
		o.duration = time.Minute
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if o.publishers < 1 {
		errs = append(errs, errors.New("-c must be at least 1"))
	}
	if o.batch < 1 || o.batch > command.MaxBatch {
		errs = append(errs, fmt.Errorf("-batch must be from 1 to %d", command.MaxBatch))
	}
	if o.nodes < 0 || o.nodes > maxNodes {
		errs = append(errs, fmt.Errorf("-nodes must be from 0 to %d", maxNodes))
	}
	if o.webhooks < 1 || o.webhooks > maxWebhooks {
		errs = append(errs, fmt.Errorf("-webhooks must be from 1 to %d", maxWebhooks))
	}
	for name, addr := range map[string]string{"-pprof": o.pprof, "-services-pprof": o.servicesPprof} {
		if host, _, err := net.SplitHostPort(addr); addr != "" && (err != nil || !isLoopback(host)) {
			errs = append(errs, fmt.Errorf("%s: %q must be a loopback host:port such as 127.0.0.1:6060", name, addr))
		}
	}
	if o.servicesPprof != "" && o.nodes == 0 {
		errs = append(errs, errors.New("-services-pprof needs -nodes: the embedded default has no services process"))
	}
	if o.payload != payloadX && o.payload != payloadRandom {
		errs = append(errs, fmt.Errorf("-payload %q: want x or random", o.payload))
	}
	if o.rate < 0 || o.events < 0 || o.duration < 0 || o.wait <= 0 || o.size < 0 {
		errs = append(errs, errors.New("-rate, -n, -duration and -size must not be negative, -wait must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(stderr, "hookd-bench:", err)
		return o, err
	}
	return o, nil
}

// isLoopback reports whether host names this machine only: profiles are served nowhere else.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}
