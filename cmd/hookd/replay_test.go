package main

// Tests of `hookd replay`, run in-process against a running server's data directory.

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain/delivery"
)

func TestReplayCLICoversACommunityWithDryRunAndSince(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	scope := apiScope("t1", "c1")
	w1 := apiCreate(h, h.license, scope, apiMinimal("w1"))
	w2 := apiCreate(h, h.license, scope, apiMinimal("w2"))
	gone := apiCreate(h, h.license, scope, apiMinimal("gone"))
	elsewhere := apiCreate(h, h.license, apiScope("t1", "c2"), apiMinimal("elsewhere"))
	now := time.Now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	w1Recent := l.deliver(w1, "E_A", ago(10*time.Minute), 500)
	w1Old := l.deliver(w1, "E_A", ago(3*time.Hour), 500)
	w1Succeeded := l.deliver(w1, "E_A", ago(5*time.Minute), 200)
	w2Recent := l.deliver(w2, "E_B", ago(20*time.Minute), 0)
	w2InFlight := l.deliver(w2, "E_B", ago(time.Minute))
	goneRecent := l.deliver(gone, "E_A", ago(10*time.Minute), 500)
	elsewhereRecent := l.deliver(elsewhere, "E_A", ago(10*time.Minute), 500)
	h.mustJSON(h.system(http.MethodDelete, webhookPath(scope, gone.ID), nil), http.StatusNoContent, nil)
	head := l.head()

	failedLastHour := []string{"replay", "--tenant", "t1", "--community", "c1", "--status", "failed", "--since", "1h"}
	out, err := h.runCLI(append(failedLastHour, "--dry-run")...)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if want := "dry run: would replay 2 deliveries in mode current; would skip 0 still in flight; left 1 alone whose webhook was deleted; nothing was appended\n"; out != want {
		t.Errorf("dry run printed %q, want %q", out, want)
	}
	if after := l.head(); after != head {
		t.Fatalf("the dry run moved the log from %v to %v", head, after)
	}

	out, err = h.runCLI(failedLastHour...)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`^replayed 2 deliveries in mode current; skipped 0 still in flight; left 1 alone whose webhook was deleted \(request [0-9a-f-]{36}\)\n$`).MatchString(out) {
		t.Errorf("replay printed %q", out)
	}
	for _, id := range []string{w1Recent, w2Recent} {
		if requests := l.replayRequests(id); len(requests) != 1 || requests[0].Mode != delivery.ReplayCurrent || requests[0].RequestedBy != "cli" {
			t.Errorf("delivery %s: replay requests %+v, want one in mode current by cli", id, requests)
		}
	}
	for _, id := range []string{w1Old, w1Succeeded, w2InFlight, goneRecent, elsewhereRecent} {
		if n := len(l.replayRequests(id)); n != 0 {
			t.Errorf("delivery %s got %d replay requests, want none", id, n)
		}
	}
	// The running server picks the replays up from the log: its delivery log shows them scheduled.
	l.sync()
	if got := apiDeliveryIDs(h, scope, w1.ID, map[string]any{"status": "scheduled"}); !slices.Equal(got, []string{w1Recent}) {
		t.Errorf("w1's scheduled deliveries on the server: %v, want [%s]", got, w1Recent)
	}

	// One webhook, every status: what is in flight is skipped, in mode original.
	out, err = h.runCLI("replay", "--tenant", "t1", "--community", "c1", "--webhook", w1.ID, "--event", "E_A", "--since", "4h", "--mode", "original")
	if err != nil {
		t.Fatalf("replay of w1: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "replayed 2 deliveries in mode original; skipped 1 still in flight (request ") {
		t.Errorf("replay of w1 printed %q", out)
	}
	for _, id := range []string{w1Old, w1Succeeded} {
		if requests := l.replayRequests(id); len(requests) != 1 || requests[0].Mode != delivery.ReplayOriginal {
			t.Errorf("delivery %s: replay requests %+v, want one in mode original", id, requests)
		}
	}
	if n := len(l.replayRequests(w1Recent)); n != 1 {
		t.Errorf("w1's recent delivery, in flight, has %d replay requests, want 1", n)
	}
}

func TestReplayCLIRequestIDFinishesWithoutReplayingTwice(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	w := apiCreate(h, h.license, apiScope("t1", "c1"), apiMinimal("w"))
	a := l.deliver(w, "E_A", time.Now().Add(-time.Minute), 500)
	requestID := uuid.NewString()
	args := []string{"replay", "--tenant", "t1", "--community", "c1", "--webhook", w.ID, "--status", "failed", "--since", "1h"}

	out, err := h.runCLI(append(args, "--request-id", requestID)...)
	if err != nil || out != fmt.Sprintf("replayed 1 delivery in mode current; skipped 0 still in flight (request %s)\n", requestID) {
		t.Fatalf("first run: %v\n%q", err, out)
	}
	// The pipeline sends a again and it fails again; b fails for the first time.
	l.attempt(a, 500, time.Now())
	b := l.deliver(w, "E_A", time.Now().Add(-time.Minute), 500)

	// The same request again, as after an interrupted run: a is this request's already.
	out, err = h.runCLI(append(args, "--request-id", requestID)...)
	if err != nil || !strings.HasPrefix(out, "replayed 2 deliveries") {
		t.Fatalf("the same request again: %v\n%q", err, out)
	}
	if na, nb := len(l.replayRequests(a)), len(l.replayRequests(b)); na != 1 || nb != 1 {
		t.Errorf("replay requests: a %d, b %d; want 1 each", na, nb)
	}

	// A new request replays a again; b is in flight and no longer failed.
	out, err = h.runCLI(args...)
	if err != nil || !strings.HasPrefix(out, "replayed 1 delivery ") {
		t.Fatalf("a new request: %v\n%q", err, out)
	}
	if n := len(l.replayRequests(a)); n != 2 {
		t.Errorf("a has %d replay requests, want 2", n)
	}
}

func TestReplayCLIRefusesBadInputAndAppendsNothing(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	w := apiCreate(h, h.license, apiScope("t1", "c1"), apiMinimal("w"))
	l.deliver(w, "E_A", time.Now().Add(-time.Minute), 500)
	head := l.head()
	scope := []string{"replay", "--tenant", "t1", "--community", "c1"}
	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{"replay", "--status", "failed"}, "--tenant and --community are required"},
		{scope, "give at least one of --status, --since, --event and --delivery"},
		{append(scope, "--status", "done"), "--status"},
		{append(scope, "--status", "failed", "--mode", "latest"), "--mode"},
		{append(scope, "--since", "-1h"), "--since must not be negative"},
		{append(scope, "--since", "soon"), `--since "soon": give days such as 7d, or a Go duration such as 36h`},
		{append(scope, "--since", "1.5d"), `--since "1.5d": give days such as 7d`},
		{append(scope, "--since", "-2d"), "--since must not be negative"},
		{append(scope, "--delivery", "x", "--status", "failed"), "--delivery excludes --status, --since and --event"},
		{append(scope, "--delivery", "no-such-delivery"), `--delivery no-such-delivery: no such delivery in tenant "t1" community "c1"`},
		{[]string{"replay", "--tenant", "t1", "--community", "c9", "--status", "failed"}, `tenant "t1" community "c9" has no webhook and no delivery`},
		{[]string{"replay", "--tenant", "t9", "--community", "c1", "--since", "7d"}, `tenant "t9" community "c1" has no webhook and no delivery`},
		{append(scope, "--event", "E A"), "eventName"},
		{append(scope, "--status", "failed", "--webhook", uuid.NewString()), "webhook: not found"},
		{append(scope, "--status", "failed", "extra"), `unknown command "extra"`},
	} {
		out, err := h.runCLI(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%v: %v (printed %q), want an error mentioning %q", c.args, err, out, c.mention)
		}
	}
	if after := l.head(); after != head {
		t.Errorf("bad replays moved the log from %v to %v", head, after)
	}
}

func TestReplayCLISinceInDaysAndByDeliveryID(t *testing.T) {
	t.Parallel()
	h := startHookd(t, handDrivenDeliveries)
	l := newTestLog(h)
	w := apiCreate(h, h.license, apiScope("t1", "c1"), apiMinimal("w"))
	other := apiCreate(h, h.license, apiScope("t1", "c1"), apiMinimal("other"))
	now := time.Now()
	sixDays := l.deliver(w, "E_A", now.Add(-6*24*time.Hour), 500)
	eightDays := l.deliver(w, "E_A", now.Add(-8*24*time.Hour), 500)
	a := l.deliver(w, "E_A", now.Add(-time.Hour), 500)
	b := l.deliver(w, "E_A", now.Add(-time.Hour), 200)
	ofOther := l.deliver(other, "E_A", now.Add(-time.Hour), 500)

	out, err := h.runCLI("replay", "--tenant", "t1", "--community", "c1", "--webhook", w.ID, "--since", "7d", "--dry-run")
	if err != nil || !strings.HasPrefix(out, "dry run: would replay 3 deliveries ") {
		t.Errorf("--since 7d: %v %q, want the 3 deliveries of the last 7 days", err, out)
	}
	out, err = h.runCLI("replay", "--tenant", "t1", "--community", "c1", "--webhook", w.ID, "--since", "36h", "--dry-run")
	if err != nil || !strings.HasPrefix(out, "dry run: would replay 2 deliveries ") {
		t.Errorf("--since 36h: %v %q, want the 2 deliveries of the last 36 hours", err, out)
	}

	out, err = h.runCLI("replay", "--tenant", "t1", "--community", "c1", "--delivery", a, "--delivery", b)
	if err != nil || !strings.HasPrefix(out, "replayed 2 deliveries in mode current;") {
		t.Fatalf("--delivery a --delivery b: %v %q", err, out)
	}
	for id, want := range map[string]int{a: 1, b: 1, sixDays: 0, eightDays: 0, ofOther: 0} {
		if n := len(l.replayRequests(id)); n != want {
			t.Errorf("delivery %s has %d replay requests, want %d", id, n, want)
		}
	}
	// A delivery of another webhook than --webhook is refused, and nothing is appended.
	head := l.head()
	if _, err := h.runCLI("replay", "--tenant", "t1", "--community", "c1", "--webhook", w.ID, "--delivery", ofOther); err == nil ||
		!strings.Contains(err.Error(), "--delivery "+ofOther+": no such delivery") {
		t.Errorf("a delivery of another webhook: %v", err)
	}
	if after := l.head(); after != head {
		t.Errorf("a refused replay moved the log from %v to %v", head, after)
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "0d": 0, "36h": 36 * time.Hour, "1h30m": 90 * time.Minute, "45s": 45 * time.Second} {
		if got, err := parseSince(in); err != nil || got != want {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "7", "7days", "1.5d", "7d12h", "soon"} {
		if _, err := parseSince(in); err == nil || !strings.Contains(err.Error(), "give days such as 7d") {
			t.Errorf("parseSince(%q) = %v, want an error saying what is allowed", in, err)
		}
	}
}
