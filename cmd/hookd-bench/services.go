package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // the services process's profile, served only with -services-pprof
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hookd/hookd/adapters/eventstore/kurrentdb/kurrentdbtest"
	"github.com/hookd/hookd/adapters/natsserver"
)

// natsClusterSize is how many NATS servers the services process clusters: three, the smallest
// cluster that keeps a replicated stream through the loss of one server, and hookd's default
// replica count in a cluster.
const natsClusterSize = 3

// servicesCommand is the argument that makes hookd-bench the services process instead of the load.
const servicesCommand = "services"

// endpoints is what the services process announces on its first line of output: where the nodes
// find the log and NATS.
type endpoints struct {
	KurrentDB string `json:"kurrentdb"`
	NATS      string `json:"nats"`
}

// runServices is `hookd-bench services [pprof-addr]`: the KurrentDB protocol test server and a
// 3-server NATS cluster with JetStream on 127.0.0.1, in a process of their own so that their CPU is
// counted apart from the nodes' and the load's. It prints their endpoints as one JSON line on out,
// then serves until stdin closes (the load process ended, however it ended) or ctx is done. With a
// pprof address (loopback), it serves net/http/pprof there too.
func runServices(ctx context.Context, stdin io.Reader, out io.Writer, pprofAddr string) error {
	if pprofAddr != "" {
		ln, err := net.Listen("tcp", pprofAddr)
		if err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
		// http.DefaultServeMux holds net/http/pprof's handlers, and nothing else in this program.
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	kdb, err := kurrentdbtest.Start()
	if err != nil {
		return err
	}
	defer kdb.Close()
	storeDir, err := os.MkdirTemp("", "hookd-bench-nats-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(storeDir)
	servers, err := startNATSCluster(ctx, storeDir)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}()
	urls := make([]string, len(servers))
	for i, s := range servers {
		urls[i] = s.ClientURL()
	}
	line, _ := json.Marshal(endpoints{KurrentDB: kdb.URL(), NATS: strings.Join(urls, ",")})
	if _, err := fmt.Fprintf(out, "%s\n", line); err != nil {
		return err
	}
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
	return nil
}

// startNATSCluster starts the servers together: a clustered server is ready only once a majority of
// the cluster runs.
func startNATSCluster(ctx context.Context, storeDir string) ([]*natsserver.Server, error) {
	routePorts := make([]int, natsClusterSize)
	routes := make([]string, natsClusterSize)
	for i := range routePorts {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		routePorts[i] = p
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	servers := make([]*natsserver.Server, natsClusterSize)
	errs := make([]error, natsClusterSize)
	var wg sync.WaitGroup
	for i := range servers {
		cfg := natsserver.Config{
			StoreDir: fmt.Sprintf("%s/n%d", storeDir, i), Name: fmt.Sprintf("bench-n%d", i), Port: -1,
			Cluster: &natsserver.Cluster{Name: "hookd-bench", Port: routePorts[i], Routes: routes},
		}
		wg.Go(func() { servers[i], errs[i] = natsserver.Start(ctx, cfg) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range servers {
			if s != nil {
				s.Shutdown()
			}
		}
		return nil, err
	}
	return servers, nil
}

// freePort is a port on 127.0.0.1 that was free a moment ago (a route port must be known before
// the servers that route to it start).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// services is the running services process, seen from the load process.
type services struct {
	cmd   *exec.Cmd
	stdin io.Closer
	endpoints
	log  *tail
	done chan error
}

// startServices starts this program again as `hookd-bench services` and reads the endpoints it
// announces; pprofAddr, when not empty, is where it serves net/http/pprof.
func startServices(ctx context.Context, pprofAddr string) (*services, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, servicesCommand, pprofAddr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &services{cmd: cmd, stdin: stdin, log: &tail{}, done: make(chan error, 1)}
	cmd.Stderr = tailWriter{s.log}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the services process: %w", err)
	}
	announced := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &s.endpoints)
		}
		announced <- err
		_, _ = io.Copy(io.Discard, stdout)
		s.done <- cmd.Wait()
	}()
	select {
	case err = <-announced:
	case <-time.After(2 * time.Minute):
		err = errors.New("no endpoints within 2 minutes")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("the services process: %w\n%s", err, s.log)
	}
	return s, nil
}

// stop closes the services process's stdin, which ends it, and waits (SIGKILL after 30 s).
func (s *services) stop() {
	_ = s.stdin.Close()
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		s.done <- <-s.done
	}
}

// tailWriter keeps a process's output lines in a tail.
type tailWriter struct{ t *tail }

func (w tailWriter) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.add(line)
	}
	return len(p), nil
}
