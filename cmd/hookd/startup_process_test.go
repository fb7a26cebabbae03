package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the user a test runs hookd as when it runs as root, for whom permission bits do not
// count.
const nobody = 65534

// TestServeProcessOnDataItCannotUse runs the real binary on data directories it cannot use: it exits
// with status 1 and the real error, naming the file, never a panic (exit status 2).
func TestServeProcessOnDataItCannotUse(t *testing.T) {
	t.Parallel()
	bin := buildHookd(t)

	t.Run("truncated log", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		startHookdIn(t, dir, nil).stop()
		if err := os.Truncate(filepath.Join(dir, logFile), 4096); err != nil {
			t.Fatal(err)
		}
		out := wantExitOne(t, serveCommand(t, bin, dir))
		if !strings.Contains(out, filepath.Join(dir, logFile)) || !strings.Contains(out, "damaged") {
			t.Errorf("the message does not name the damaged log:\n%s", out)
		}
	})

	// Root writes whatever the permission bits say, so as root the binary runs as nobody, who owns
	// the directory but may not write into it.
	t.Run("read-only data directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		startHookdIn(t, dir, nil).stop()
		cmd := serveCommand(t, bin, dir)
		if os.Geteuid() == 0 {
			if err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
				return errors.Join(err, os.Chown(path, nobody, nobody))
			}); err != nil {
				t.Fatal(err)
			}
			// nobody must reach the directory: the test's temporary directory holding it is root's alone.
			if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		out := wantExitOne(t, cmd)
		if !strings.Contains(out, dir) {
			t.Errorf("the message does not name the data directory:\n%s", out)
		}
	})
}

// buildHookd builds the binary into a directory anyone may read.
func buildHookd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "hookd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// serveCommand is `hookd serve` on dataDir, stopped if it runs past a generous deadline.
func serveCommand(t *testing.T, bin, dataDir string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), "HOOKD_ADDR=127.0.0.1:0", "HOOKD_DATA_DIR="+dataDir)
	return cmd
}

// wantExitOne runs cmd and returns its output, which must end with exit status 1 and the error on
// one line after "hookd:".
func wantExitOne(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if exit, ok := errors.AsType[*exec.ExitError](err); !ok || exit.ExitCode() != 1 {
		t.Fatalf("hookd serve ended with %v, want exit status 1:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "hookd: ") || strings.Contains(out.String(), "panic") {
		t.Fatalf("hookd serve did not say why it stopped, or panicked:\n%s", out.String())
	}
	return out.String()
}

// TestServeProcessHoldsItsDataDirectory runs real processes: a second serve on a data directory
// that a serve holds exits with status 1, naming the directory and the holder's pid; license and
// replay work beside the running serve; a serve killed with SIGKILL lets go of the directory.
func TestServeProcessHoldsItsDataDirectory(t *testing.T) {
	t.Parallel()
	bin := buildHookd(t)
	dir := t.TempDir()
	first := startProcess(t, bin, dir)
	h := &testHookd{t: t, url: first.url, http: &http.Client{Timeout: 10 * time.Second},
		license: readBootstrapLicense(t, dir)}
	w := apiCreate(h, h.license, apiScope("t1", "c1"), apiMinimal("beside"))

	out := wantExitOne(t, serveCommand(t, bin, dir))
	if want := fmt.Sprintf("data directory %s is in use by another hookd serve (pid %d)", dir, first.cmd.Process.Pid); !strings.Contains(out, want) {
		t.Errorf("the second serve said:\n%s\nwant %q", out, want)
	}

	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HOOKD_DATA_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("hookd %s beside a running serve: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	cli("license", "issue", "--level", "service", "--tenant", "t1")
	if out := cli("license", "list"); strings.Count(strings.TrimSpace(out), "\n") != 2 {
		t.Errorf("license list shows:\n%s\nwant the bootstrap license and the one issued", out)
	}
	cli("replay", "--tenant", "t1", "--community", "c1", "--webhook", w.ID, "--since", "1h", "--dry-run")
	cli("projections", "rebuild")
	// The serve is still the one holding the directory, and still serves.
	if got := apiAllWebhooks(h, apiScope("t1", "c1")); len(got) != 1 || got[0].ID != w.ID {
		t.Fatalf("after the commands beside it, serve lists %+v", got)
	}

	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done
	startProcess(t, bin, dir).stop(t)
}
