package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPprofAddrMustBeLoopback(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"127.0.0.1:6060": true, "127.0.0.2:0": true, "[::1]:6060": true, "localhost:6060": true,
		"0.0.0.0:6060": false, ":6060": false, "10.0.0.1:6060": false, "[::]:6060": false, "example.com:6060": false,
		"127.0.0.1": false,
	} {
		if err := checkPprofAddr(addr); (err == nil) != ok {
			t.Errorf("checkPprofAddr(%q) = %v, want accepted %v", addr, err, ok)
		}
	}
}

// TestServeRefusesPprofOffLoopback: neither the environment nor the flag can put the profiler on a
// network, and serve then stops before touching the data directory.
func TestServeRefusesPprofOffLoopback(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "never-created")
	for _, c := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"HOOKD_PPROF_ADDR": "0.0.0.0:6060"}, []string{"serve"}},
		{map[string]string{}, []string{"serve", "--pprof", ":6060"}},
	} {
		c.env["HOOKD_DATA_DIR"], c.env["HOOKD_ADDR"] = dataDir, "127.0.0.1:0"
		_, _, err := runIn(func(k string) string { return c.env[k] }, c.args...)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%v %v: %v, want an error asking for a loopback address", c.env, c.args, err)
		}
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a serve refused for its pprof address touched the data directory: %v", err)
	}
}

// TestServePprof runs serve in-process: without a pprof address none is served; with --pprof the
// profiler answers on its own loopback listener, and the API does not serve it.
func TestServePprof(t *testing.T) {
	t.Parallel()
	off := serveLogLines(t, nil)
	if _, ok := off["pprof serving"]; ok {
		t.Error("serve started the profiler without being asked")
	}
	on := serveLogLines(t, []string{"--pprof", "127.0.0.1:0"})
	pprofAddr, ok := on["pprof serving"]
	if !ok {
		t.Fatal("serve --pprof logged no pprof address")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + pprofAddr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "heap profile") {
		t.Errorf("pprof heap: %s\n%.200s", resp.Status, body)
	}
	resp, err = client.Get("http://" + on["hookd serving"] + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the API serves /debug/pprof/")
	}
}

// serveLogLines runs hookd serve with args on a fresh data directory until it serves, and returns the
// addr of each log line that has one, by message. The server stops when the test ends.
func serveLogLines(t *testing.T, args []string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	env := map[string]string{"HOOKD_ADDR": "127.0.0.1:0", "HOOKD_DATA_DIR": t.TempDir(), "HOOKD_LOG_FORMAT": "json"}
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"serve"}, args...), func(k string) string { return env[k] }, io.Discard, w)
		w.CloseWithError(err)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	addrs := map[string]string{}
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(scanner.Bytes(), &line) == nil && line.Addr != "" {
			addrs[line.Msg] = line.Addr
			if line.Msg == "hookd serving" {
				go func() { _, _ = io.Copy(io.Discard, r) }()
				return addrs
			}
		}
	}
	t.Fatalf("serve ended before serving: %v", scanner.Err())
	return nil
}
