package main

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestServeProcessStopsOnSIGTERMAndKeepsItsData runs the real binary: `hookd serve` answers, stops
// with exit status 0 on SIGTERM, and a second process on the same data directory serves what the
// first one wrote.
func TestServeProcessStopsOnSIGTERMAndKeepsItsData(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "hookd")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()

	first := startProcess(t, bin, dataDir)
	h := &testHookd{t: t, url: first.url, http: &http.Client{Timeout: 10 * time.Second},
		license: readBootstrapLicense(t, dataDir)}
	created := apiCreate(h, h.license, apiScope("t1", "c1"), apiMinimal("survives restarts"))
	first.stop(t)

	second := startProcess(t, bin, dataDir)
	h.url = second.url
	page := apiFetch(h, h.license, apiScope("t1", "c1"), map[string]any{})
	if page.Page.Total != 1 || page.Data[0].ID != created.ID {
		t.Fatalf("after a restart the community holds %+v, want webhook %s", page.Data, created.ID)
	}
	second.stop(t)
}

type process struct {
	cmd  *exec.Cmd
	url  string
	done chan error

	mu sync.Mutex
	// warnings are the process's log lines of level WARN and above, as written.
	warnings []string
	// cutShort are the deliveries whose attempt a stop cut short once its grace period ran out.
	cutShort map[string]bool
}

// logged returns the warnings and the deliveries cut short so far.
func (p *process) logged() (warnings []string, cutShort map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.warnings...), maps.Clone(p.cutShort)
}

// startProcess starts `hookd serve` on a free port and waits for its "hookd serving" log line; env
// adds to its environment.
func startProcess(t *testing.T, bin, dataDir string, env ...string) *process {
	t.Helper()
	// The process lives until the test ends (a cluster test under load runs longer than a minute):
	// it is killed then if it still runs. Only the start below is bounded.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), "HOOKD_ADDR=127.0.0.1:0", "HOOKD_DATA_DIR="+dataDir, "HOOKD_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1), cutShort: map[string]bool{}}
	addr := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			var line struct {
				Msg, Addr, Level string
				DeliveryID       string `json:"delivery_id"`
			}
			if json.Unmarshal(scanner.Bytes(), &line) != nil {
				continue
			}
			switch {
			case line.Msg == "hookd serving":
				addr <- line.Addr
			case line.Level == "WARN" || line.Level == "ERROR":
				p.mu.Lock()
				p.warnings = append(p.warnings, scanner.Text())
				if strings.HasPrefix(line.Msg, "the stop's grace period ran out") {
					p.cutShort[line.DeliveryID] = true
				}
				p.mu.Unlock()
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case err := <-p.done:
		t.Fatalf("hookd serve exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("hookd serve did not start within 30 s")
	}
	return p
}

// stop sends SIGTERM and expects a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("hookd serve exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hookd serve did not stop within 20 s of SIGTERM")
	}
}
