package main

// Tests of the command line itself: help, exit codes, configuration errors, and the commands that
// read the data directory beside a running serve.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hookd/hookd/domain/delivery"
)

// badEnv is an environment whose every command that reads the configuration must refuse it, with a
// data directory that nothing may create.
func badEnv(t *testing.T) (getenv func(string) string, dataDir string) {
	dataDir = filepath.Join(t.TempDir(), "never-created")
	env := map[string]string{"HOOKD_DELIVERY_CONCURRENCY": "abc", "HOOKD_DATA_DIR": dataDir, "HOOKD_ADDR": "127.0.0.1:1"}
	return func(k string) string { return env[k] }, dataDir
}

// runIn runs a command line in-process and returns what it printed.
func runIn(getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// commandPaths lists every command of the tree, cobra's help and completion included, as the words
// that run it.
func commandPaths(t *testing.T) map[string]*cobra.Command {
	root := newRootCommand(&cli{getenv: func(string) string { return "" }, stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	paths := map[string]*cobra.Command{}
	var walk func(c *cobra.Command, words []string)
	walk = func(c *cobra.Command, words []string) {
		if c.Hidden {
			return
		}
		paths[strings.Join(words, " ")] = c
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), words...), sub.Name()))
		}
	}
	walk(root, nil)
	for _, want := range []string{"serve", "projections rebuild", "replay", "license issue", "license list",
		"license revoke", "headers", "version", "deliveries list", "deliveries show", "receive",
		"completion bash", "completion zsh", "completion fish"} {
		if paths[want] == nil {
			t.Errorf("no command %q", want)
		}
	}
	return paths
}

func TestEveryCommandAnswersHelpOnStdout(t *testing.T) {
	t.Parallel()
	getenv, dataDir := badEnv(t)
	for path, cmd := range commandPaths(t) {
		for _, flag := range []string{"--help", "-h"} {
			args := append(strings.Fields(path), flag)
			stdout, stderr, err := runIn(getenv, args...)
			if err != nil {
				t.Errorf("hookd %s: %v", strings.Join(args, " "), err)
				continue
			}
			if !strings.Contains(stdout, "Usage:") || stderr != "" {
				t.Errorf("hookd %s printed %q on stdout and %q on stderr, want the usage on stdout alone", strings.Join(args, " "), stdout, stderr)
			}
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				if !strings.Contains(stdout, "--"+f.Name) {
					t.Errorf("hookd %s does not show its flag --%s:\n%s", strings.Join(args, " "), f.Name, stdout)
				}
			})
		}
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("asking for help touched the data directory: %v", err)
	}
}

// TestHelpVersionAndCompletionIgnoreTheEnvironment: a bad environment value stops only the commands
// that use the configuration.
func TestHelpVersionAndCompletionIgnoreTheEnvironment(t *testing.T) {
	t.Parallel()
	getenv, _ := badEnv(t)
	for _, args := range [][]string{{}, {"version"}, {"help"}, {"help", "serve"}, {"license"},
		{"completion", "bash"}, {"completion", "zsh"}, {"completion", "fish"}} {
		stdout, _, err := runIn(getenv, args...)
		if err != nil || stdout == "" {
			t.Errorf("hookd %v: %v, printed %q; want output and success", args, err, stdout)
		}
	}
	if out, _, _ := runIn(getenv, "completion", "bash"); !strings.Contains(out, "__start_hookd") {
		t.Errorf("the bash completion script does not complete hookd:\n%.200s", out)
	}
	if out, _, _ := runIn(getenv, "version"); out != buildVersion()+"\n" {
		t.Errorf("version printed %q, want %q", out, buildVersion())
	}
}

func TestBadEnvironmentStopsCommandsThatReadIt(t *testing.T) {
	t.Parallel()
	getenv, dataDir := badEnv(t)
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--addr", "127.0.0.1:0"},
		{"projections", "rebuild"},
		{"replay", "--tenant", "t", "--community", "c", "--status", "failed"},
		{"license", "issue", "--level", "system"},
		{"license", "list"},
		{"license", "revoke", "lic_00000000000000000000000000000000"},
		{"deliveries", "list", "--tenant", "t", "--community", "c", "--webhook", "w"},
		{"deliveries", "show", "d"},
	} {
		_, _, err := runIn(getenv, args...)
		if err == nil || !strings.Contains(err.Error(), "HOOKD_DELIVERY_CONCURRENCY") {
			t.Errorf("hookd %v: %v, want an error naming HOOKD_DELIVERY_CONCURRENCY", args, err)
		}
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a command stopped by its configuration touched the data directory: %v", err)
	}
}

func TestUsageErrorsFail(t *testing.T) {
	t.Parallel()
	getenv, _ := badEnv(t)
	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{"nonsense"}, `unknown command "nonsense"`},
		{[]string{"license", "nonsense"}, `unknown command "nonsense" for "hookd license"`},
		{[]string{"projections", "nonsense"}, `unknown command "nonsense"`},
		{[]string{"serve", "--nonsense"}, "unknown flag: --nonsense (see hookd serve --help)"},
		{[]string{"serve", "extra"}, `unknown command "extra"`},
		{[]string{"license", "revoke"}, "accepts 1 arg"},
		{[]string{"deliveries", "show"}, "accepts 1 arg"},
		{[]string{"receive", "--status", "42"}, "--status 42"},
	} {
		if _, _, err := runIn(getenv, c.args...); err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("hookd %v: %v, want an error mentioning %q", c.args, err, c.mention)
		}
	}
}

// TestServeLogsACleanStop runs serve in-process until its context ends: it stops without error and
// says so, whichever of its parts notices the shutdown first.
func TestServeLogsACleanStop(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	env := map[string]string{"HOOKD_DATA_DIR": dataDir, "HOOKD_ADDR": "127.0.0.1:0", "HOOKD_LOG_FORMAT": "json"}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, new(bytes.Buffer), &stderr)
	}()
	apiEventually(t, 30*time.Second, "serve did not start", func() bool { return strings.Contains(stderr.String(), "hookd serving") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve stopped with %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s")
	}
	log := stderr.String()
	if !strings.Contains(log, `"msg":"hookd stopped"`) || strings.Contains(log, "%!") || strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("serve's log does not end in a clean stop:\n%s", log)
	}
}

func TestStoppedTellsAShutdownFromAFailure(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	boom := errors.New("boom")
	if err := stopped(ended, log, "delivery", nil); err != nil {
		t.Errorf("stopped on shutdown = %v, want nil", err)
	}
	if err := stopped(ended, log, "delivery", boom); !errors.Is(err, boom) || err.Error() != "delivery stopped: boom" {
		t.Errorf("stopped with an error = %v", err)
	}
	if err := stopped(live, log, "projections", nil); err == nil || strings.Contains(err.Error(), "%!") {
		t.Errorf("stopped without error before the shutdown = %v, want an error that says so", err)
	}
}

func TestLicenseRevokeByTheListedID(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	key := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	apiCreate(h, key, scope, apiMinimal("before revocation"))

	out, err := h.runCLI("license", "list")
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "tenant t1") && strings.Contains(line, key[len(key)-4:]) {
			id = strings.Fields(line)[0]
		}
	}
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) {
		t.Fatalf("license list shows no id for the license:\n%s", out)
	}
	if out, err := h.runCLI("license", "revoke", id); err != nil || out != "revoked\n" {
		t.Fatalf("license revoke %s: %v %q", id, err, out)
	}
	apiEventually(t, 30*time.Second, "the license revoked by id still works", func() bool {
		return h.as(key, http.MethodPost, scope+"/webhooks/fetch", nil).Status == http.StatusUnauthorized
	})
	if out, _ := h.runCLI("license", "list"); !regexp.MustCompile(id + `.*revoked`).MatchString(out) {
		t.Errorf("license list does not show %s revoked:\n%s", id, out)
	}
	// An id of no license, and a key of none, fail and say what to do; the system license stays.
	for _, unknown := range []string{"3f0e4f6a-8a4b-4c47-9d0a-1d5b8a2f7c11", "lic_00000000000000000000000000000000"} {
		if _, err := h.runCLI("license", "revoke", unknown); err == nil || !strings.Contains(err.Error(), "no license has that id or key") {
			t.Errorf("license revoke %s: %v, want an error saying no license has it", unknown, err)
		}
	}
	h.mustJSON(h.system(http.MethodGet, "/servicekeys", nil), http.StatusOK, nil)
}

func TestDeliveriesListAndShow(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("w"))
	other := apiCreate(h, h.license, scope, apiMinimal("other"))
	now := time.Now()
	failed := l.deliver(w, "E_FAILED", now.Add(-3*time.Minute), 503)
	timedOut := l.deliver(w, "E_SLOW", now.Add(-2*time.Minute), 0)
	succeeded := l.deliver(w, "E_OK", now.Add(-time.Minute), 200)
	l.deliver(other, "E_OTHER", now.Add(-time.Minute), 200)

	out, err := h.runCLI("deliveries", "list", "--tenant", "t1", "--community", "c1", "--webhook", w.ID)
	if err != nil {
		t.Fatalf("deliveries list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ID ") ||
		!regexp.MustCompile(`^`+succeeded+` +E_OK +succeeded +1 +200 at `).MatchString(lines[1]) ||
		!regexp.MustCompile(`^`+timedOut+` +E_SLOW +failed +1 +timeout at `).MatchString(lines[2]) ||
		!regexp.MustCompile(`^`+failed+` +E_FAILED +failed +1 +503 at `).MatchString(lines[3]) ||
		lines[4] != "1-3 of 3, newest first" {
		t.Errorf("deliveries list printed:\n%s", out)
	}
	out, err = h.runCLI("deliveries", "list", "--tenant", "t1", "--community", "c1", "--webhook", w.ID, "--page-size", "2")
	if err != nil || !strings.HasSuffix(out, "1-2 of 3, newest first; --page 1 for more\n") {
		t.Errorf("deliveries list --page-size 2: %v\n%s", err, out)
	}

	out, err = h.runCLI("deliveries", "list", "--tenant", "t1", "--community", "c1", "--webhook", w.ID, "--status", "failed", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var page deliveryPageJSON
	if err := json.Unmarshal([]byte(out), &page); err != nil || page.Total != 2 || len(page.Deliveries) != 2 ||
		page.Deliveries[1].ID != failed || page.Deliveries[1].AttemptLog[0].Status != 503 {
		t.Errorf("deliveries list --status failed --json: %v\n%s", err, out)
	}

	for id, attempt := range map[string]string{succeeded: `200 +42ms +"ok"`, timedOut: `timeout +42ms +""`, failed: `503 +42ms +"boom 503"`} {
		out, err = h.runCLI("deliveries", "show", id)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^delivery +` + id + `$`),
			regexp.MustCompile(`(?m)^webhook +` + w.ID + ` \(tenant t1, community c1\)$`),
			regexp.MustCompile(`(?m)^status +(succeeded|failed) after 1 attempt$`),
			regexp.MustCompile(`(?m)^# +AT +RESULT +DURATION +RESPONSE$`),
			regexp.MustCompile(`(?m)^1 +\S+Z +` + attempt + `$`),
		} {
			if !want.MatchString(out) {
				t.Errorf("deliveries show %s does not match %s:\n%s", id, want, out)
			}
		}
		// A parked delivery says why; the one delivered has no such line.
		if parked := regexp.MustCompile(`(?m)^parked +rejected$`).MatchString(out); parked != (id != succeeded) {
			t.Errorf("deliveries show %s: a parked line is there: %v:\n%s", id, parked, out)
		}
	}
	out, err = h.runCLI("deliveries", "show", failed, "--json")
	var shown deliveryJSON
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown.Status != "failed" || shown.WebhookID != w.ID || len(shown.AttemptLog) != 1 ||
		shown.ParkReason != delivery.ReasonRejected {
		t.Errorf("deliveries show --json: %v\n%s", err, out)
	}

	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{"deliveries", "show", "no-such-delivery"}, "no delivery no-such-delivery"},
		{[]string{"deliveries", "list", "--tenant", "t1", "--community", "c1", "--webhook", "nope"}, `tenant "t1" community "c1" has no webhook nope`},
		{[]string{"deliveries", "list", "--tenant", "t1", "--community", "c1"}, "--webhook are required"},
		{[]string{"deliveries", "list", "--tenant", "t1", "--community", "c1", "--webhook", w.ID, "--status", "lost"}, "--status"},
	} {
		if _, err := h.runCLI(c.args...); err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("hookd %v: %v, want an error mentioning %q", c.args, err, c.mention)
		}
	}
}

// syncBuffer is a bytes.Buffer that a command or a server writes to, from several goroutines, while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
