package natstransport_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/adapters/transport/natstransport"
	"github.com/hookd/hookd/adapters/transport/transporttest"
)

// TestStreamLeaderKilled runs the load of TestStreamLeaderShutDown on three nats-server processes and
// kills the stream leader's with SIGKILL: no goodbye, so the others must notice and elect a leader.
func TestStreamLeaderKilled(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("building nats-server: %v\n%s", err, out)
	}
	type proc struct {
		name string
		port int
		cmd  *exec.Cmd
	}
	procs := make([]*proc, 3)
	var routes []string
	clusterPorts := make([]int, 3)
	for i := range procs {
		clusterPorts[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", clusterPorts[i]))
	}
	var urls []string
	for i := range procs {
		p := &proc{name: fmt.Sprint("p", i), port: freePort(t)}
		p.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(p.port), "-n", p.name, "-js", "-sd", t.TempDir(),
			"--cluster_name", "hookdtest", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", clusterPorts[i]),
			"--routes", strings.Join(routes, ","))
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		})
		procs[i] = p
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", p.port))
	}
	connect := func(t *testing.T) *nats.Conn {
		nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
			nats.RetryOnFailedConnect(true))
		if err != nil {
			t.Fatal(err)
		}
		return nc
	}
	nc := connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster's JetStream did not come up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	backend := transporttest.Backend{NewNode: func(t *testing.T, ackWait time.Duration) transporttest.Node {
		nc := connect(t)
		ps, err := natstransport.New(natstransport.Config{Conn: nc, AckWait: ackWait, CloseTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = ps.Close()
			nc.Close()
		})
		return transporttest.Node{Publisher: ps, Subscriber: ps, Crash: nc.Close}
	}}
	underLoad(t, backend, nc, func(stream string) string {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Errorf("finding the stream's leader: %v", err)
			return ""
		}
		leader := s.CachedInfo().Cluster.Leader
		for _, p := range procs {
			if p.name == leader {
				_ = p.cmd.Process.Kill()
				return leader
			}
		}
		t.Errorf("no server leads the stream (leader %q)", leader)
		return ""
	})
}
