package natstransport_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookd/hookd/adapters/natsserver"
	"github.com/hookd/hookd/adapters/transport/natstransport"
	"github.com/hookd/hookd/adapters/transport/transporttest"
)

// features: the stream keeps messages and timers on disk; the server's scheduler fires at most every
// 250 ms.
var features = transporttest.Features{Persistent: true, Lateness: 300 * time.Millisecond, CrashRedelivery: true}

// cluster is a set of in-process NATS servers on 127.0.0.1.
type cluster struct {
	t       *testing.T
	mu      sync.Mutex
	cfgs    []natsserver.Config
	servers []*natsserver.Server
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCluster starts size servers; more than one are clustered.
func startCluster(t *testing.T, size int) *cluster {
	c := &cluster{t: t}
	var routes []string
	clusterPorts := make([]int, size)
	for i := range size {
		clusterPorts[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", clusterPorts[i]))
	}
	for i := range size {
		cfg := natsserver.Config{StoreDir: t.TempDir(), Name: fmt.Sprint("n", i), Port: freePort(t)}
		if size > 1 {
			cfg.Cluster = &natsserver.Cluster{Name: "hookdtest", Port: clusterPorts[i], Routes: routes}
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	c.start()
	t.Cleanup(c.stop)
	return c
}

// start starts every server at once: a cluster's first server is ready only when a majority runs.
func (c *cluster) start() {
	c.servers = make([]*natsserver.Server, len(c.cfgs))
	var wg sync.WaitGroup
	errs := make([]error, len(c.cfgs))
	for i, cfg := range c.cfgs {
		wg.Go(func() { c.servers[i], errs[i] = natsserver.Start(context.Background(), cfg) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.servers {
		if s != nil {
			s.Shutdown()
			c.servers[i] = nil
		}
	}
}

func (c *cluster) url() string {
	urls := make([]string, len(c.cfgs))
	for i, cfg := range c.cfgs {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", cfg.Port)
	}
	return strings.Join(urls, ",")
}

func (c *cluster) connect(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.url(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

func (c *cluster) backend() transporttest.Backend {
	return transporttest.Backend{
		NewNode: func(t *testing.T, ackWait time.Duration) transporttest.Node {
			nc := c.connect(t)
			ps, err := natstransport.New(natstransport.Config{Conn: nc, AckWait: ackWait, CloseTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = ps.Close()
				nc.Close()
			})
			return transporttest.Node{Publisher: ps, Subscriber: ps, Crash: nc.Close}
		},
		Restart: func(*testing.T) {
			c.stop()
			c.start()
		},
	}
}

func TestConformanceOneServer(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1)
	transporttest.Run(t, features, c.backend())
}

func TestConformanceThreeServers(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	transporttest.Run(t, features, c.backend())
}
