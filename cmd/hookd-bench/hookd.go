package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// hookd is a `hookd serve` process on a data directory of its own.
type hookd struct {
	cmd     *exec.Cmd
	url     string
	dataDir string
	log     *tail
	done    chan error
}

// startHookd starts bin serve on 127.0.0.1 with a port the kernel picks, read back from its
// "hookd serving" log line, and waits for /readyz. Its environment is the caller's, so a HOOKD_*
// setting exported for the run reaches hookd, then the run's settings, then env (later wins). Its
// warnings and errors go to progress as they come: a long run's trouble (retention falling behind,
// say) would otherwise show only in the last lines kept after a failure.
func startHookd(ctx context.Context, bin string, progress io.Writer, env ...string) (*hookd, error) {
	dataDir, err := os.MkdirTemp("", "hookd-bench-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "HOOKD_ADDR=127.0.0.1:0", "HOOKD_DATA_DIR="+dataDir, "HOOKD_LOG_FORMAT=json",
		"HOOKD_ALLOW_PRIVATE_TARGETS=true", "HOOKD_LICENSE_RATE=1000000")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	h := &hookd{cmd: cmd, dataDir: dataDir, log: &tail{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		// A pipe, not a file: hookd's logs must not count in the bytes it writes to disk.
		scanner := bufio.NewScanner(stderr)
		scanner.Buffer(make([]byte, 64<<10), 1<<20)
		for scanner.Scan() {
			h.log.add(scanner.Text())
			var line struct{ Msg, Addr, Level string }
			if json.Unmarshal(scanner.Bytes(), &line) != nil {
				continue
			}
			switch {
			case line.Msg == "hookd serving":
				select {
				case addr <- line.Addr:
				default:
				}
			case line.Level == slog.LevelWarn.String() || line.Level == slog.LevelError.String():
				fmt.Fprintf(progress, "hookd-bench: hookd pid %d: %s\n", cmd.Process.Pid, scanner.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		h.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		h.url = "http://" + a
	case err := <-h.done:
		h.done <- err
		h.stop()
		return nil, fmt.Errorf("hookd serve exited before serving (%v):\n%s", err, h.log)
	case <-time.After(60 * time.Second):
		h.stop()
		return nil, fmt.Errorf("hookd serve did not start within 60 s:\n%s", h.log)
	case <-ctx.Done():
		h.stop()
		return nil, ctx.Err()
	}
	if err := h.waitReady(ctx); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

func (h *hookd) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(h.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hookd was not ready within 60 s:\n%s", h.log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends hookd with SIGTERM (SIGKILL after 30 s) and removes its data directory.
func (h *hookd) stop() {
	defer os.RemoveAll(h.dataDir)
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-h.done:
		h.done <- err
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		h.done <- <-h.done
	}
}

// tail keeps hookd's last log lines, to explain a failure.
type tail struct {
	mu    sync.Mutex
	lines []string
}

const tailLines = 40

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 2*tailLines {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-tailLines:]...)
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines[max(0, len(t.lines)-tailLines):], "\n")
}
