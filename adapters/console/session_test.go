package console

import (
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/domain/license"
)

func TestSessionsAreBoundedAndEvictTheIdlest(t *testing.T) {
	t.Parallel()
	s := newSessions(3, time.Hour)
	now := time.Unix(1_000_000, 0)
	var tokens []string
	for i := range 5 {
		tokens = append(tokens, s.start("lic", "hash", license.LevelSystem, license.Scope{}, now.Add(time.Duration(i)*time.Second)).token)
		if i == 2 {
			// The first session is used again: the second is now the idlest.
			if _, ok := s.get(tokens[0], now.Add(3*time.Second)); !ok {
				t.Fatal("a fresh session is not found")
			}
		}
	}
	if s.len() != 3 {
		t.Fatalf("%d sessions kept, want the bound, 3", s.len())
	}
	for i, want := range []bool{true, false, false, true, true} {
		if _, ok := s.get(tokens[i], now.Add(5*time.Second)); ok != want {
			t.Errorf("session %d kept: %v, want %v", i, ok, want)
		}
	}
}

func TestSessionsEndAfterTheIdleTimeout(t *testing.T) {
	t.Parallel()
	s := newSessions(10, time.Minute)
	now := time.Unix(1_000_000, 0)
	tok := s.start("lic", "hash", license.LevelService, license.Scope{TenantID: "t"}, now).token
	if _, ok := s.get(tok, now.Add(59*time.Second)); !ok {
		t.Fatal("a session used within the idle timeout ended")
	}
	// Use keeps it alive: idle is counted from the last use.
	if _, ok := s.get(tok, now.Add(118*time.Second)); !ok {
		t.Fatal("a session used again within the idle timeout ended")
	}
	if _, ok := s.get(tok, now.Add(180*time.Second)); ok {
		t.Fatal("a session idle past the timeout is still there")
	}
	if s.len() != 0 {
		t.Fatalf("an expired session is still kept: %d", s.len())
	}
}

func TestSessionsAreSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	s := newSessions(50, time.Hour)
	now := time.Now()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 100 {
				tok := s.start("lic", "hash", license.LevelSystem, license.Scope{}, now).token
				s.get(tok, now)
				s.setFlash(tok, "hi", "")
				s.takeFlash(tok)
				s.end(tok)
			}
		})
	}
	wg.Wait()
	if s.len() != 0 {
		t.Fatalf("%d sessions left", s.len())
	}
}

func TestSignInLinksWorkOnceWithinTheirMinute(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_000_000, 0)
	u := &usedLinks{used: map[string]time.Time{}}
	tok, err := SignInToken(key, "hash-1", now)
	if err != nil {
		t.Fatal(err)
	}
	if hash, err := u.redeem(key, tok, now.Add(30*time.Second)); err != nil || hash != "hash-1" {
		t.Fatalf("a fresh link: %q %v", hash, err)
	}
	if _, err := u.redeem(key, tok, now.Add(31*time.Second)); err == nil {
		t.Fatal("a link worked twice")
	}
	late, _ := SignInToken(key, "hash-1", now)
	if _, err := u.redeem(key, late, now.Add(LinkTTL+time.Second)); err == nil {
		t.Fatal("a link worked after its minute")
	}
	other, _ := SignInToken([]byte("another key, 32 bytes long......"), "hash-1", now)
	if _, err := u.redeem(key, other, now); err == nil {
		t.Fatal("a link signed with another key worked")
	}
	if _, err := SignInToken(key[:16], "hash-1", now); err == nil {
		t.Fatal("a short key signed a link")
	}
}
