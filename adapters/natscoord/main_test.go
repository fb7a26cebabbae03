package natscoord_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookd/hookd/adapters/natsserver"
)

// The tests share one standalone server and one 3-server cluster, each test in buckets of its own:
// starting servers is most of the time these tests take.
var (
	clusterOnce sync.Once
	clusterURLs []string
	clusterErr  error
	single      = struct {
		sync.Once
		url string
		err error
	}{}
	servers []*natsserver.Server
	serveMu sync.Mutex
	dirs    []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	serveMu.Lock()
	for _, s := range servers {
		s.Shutdown()
	}
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
	serveMu.Unlock()
	os.Exit(code)
}

var buckets atomic.Int64

// bucket returns a bucket name of its own for each call: the servers outlive a test (-count=2).
func bucket(name string) string { return fmt.Sprint(name, "_", buckets.Add(1)) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func storeDir() (string, error) {
	d, err := os.MkdirTemp("", "natscoord")
	if err == nil {
		serveMu.Lock()
		dirs = append(dirs, d)
		serveMu.Unlock()
	}
	return d, err
}

// clusterServers returns the client URLs of the shared 3-server cluster, starting it on first use.
func clusterServers(t *testing.T) []string {
	t.Helper()
	clusterOnce.Do(func() { clusterURLs, _, clusterErr = startCluster(3) })
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	return clusterURLs
}

// startCluster starts size clustered servers, shut down at the end of the tests (or before).
func startCluster(size int) ([]string, []*natsserver.Server, error) {
	var routes []string
	cfgs := make([]natsserver.Config, size)
	for i := range size {
		rp, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		cp, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		dir, err := storeDir()
		if err != nil {
			return nil, nil, err
		}
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", rp))
		cfgs[i] = natsserver.Config{StoreDir: dir, Name: fmt.Sprint("n", i), Port: cp,
			Cluster: &natsserver.Cluster{Name: "coordtest", Port: rp}}
	}
	started := make([]*natsserver.Server, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].Cluster.Routes = routes
		wg.Go(func() { started[i], errs[i] = natsserver.Start(context.Background(), cfgs[i]) })
	}
	wg.Wait()
	var urls []string
	serveMu.Lock()
	defer serveMu.Unlock()
	for i, s := range started {
		if errs[i] != nil {
			return nil, nil, errs[i]
		}
		servers = append(servers, s)
		urls = append(urls, s.ClientURL())
	}
	return urls, started, nil
}

// singleServer returns the client URL of the shared standalone server.
func singleServer(t *testing.T) string {
	t.Helper()
	single.Do(func() {
		var dir string
		if dir, single.err = storeDir(); single.err != nil {
			return
		}
		var s *natsserver.Server
		s, single.err = natsserver.Start(context.Background(), natsserver.Config{StoreDir: dir, Port: -1})
		if single.err == nil {
			serveMu.Lock()
			servers = append(servers, s)
			serveMu.Unlock()
			single.url = s.ClientURL()
		}
	})
	if single.err != nil {
		t.Fatal(single.err)
	}
	return single.url
}

func connect(t *testing.T, urls ...string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// proxy forwards TCP connections to a server until frozen; frozen, it forwards nothing more in
// either direction but keeps the connections open: a partition the client cannot see at once.
type proxy struct {
	l      net.Listener
	mu     sync.Mutex
	frozen chan struct{}
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, frozen: make(chan struct{})}
	t.Cleanup(p.close)
	target = strings.TrimPrefix(target, "nats://")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

func (p *proxy) url() string { return "nats://" + p.l.Addr().String() }

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-p.frozen:
				return // what comes in is dropped; the connection stays open until close
			default:
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) freeze() { close(p.frozen) }

func (p *proxy) close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}
