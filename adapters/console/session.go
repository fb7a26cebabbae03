package console

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd/domain/license"
)

// session is one signed-in browser. Its scope is the license's, copied at sign-in: a license's level
// and scope never change, and its revocation is checked on every request.
type session struct {
	token     string
	csrf      string
	licenseID string
	keyHash   string
	level     license.Level
	scope     license.Scope
	lastSeen  time.Time
	// flash is a message for the next page shown, then dropped; secret is a secret shown once, on
	// the next page, after a create or a rotation.
	flash, secret string
}

// sessions keeps the signed-in sessions in memory, at most max of them: a new one beyond that evicts
// the one idle longest, so no number of sign-ins grows memory without bound. Sessions live on the
// node that made them; another node behind the same load balancer does not know them.
type sessions struct {
	mu    sync.Mutex
	max   int
	idle  time.Duration
	byTok map[string]*list.Element
	// lru holds *session, the most recently seen at the front.
	lru *list.List
}

func newSessions(max int, idle time.Duration) *sessions {
	return &sessions{max: max, idle: idle, byTok: make(map[string]*list.Element), lru: list.New()}
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start makes a session for the license, evicting the idlest one when the store is full.
func (s *sessions) start(licenseID, keyHash string, level license.Level, scope license.Scope, now time.Time) *session {
	sess := &session{token: randomToken(), csrf: randomToken(), licenseID: licenseID, keyHash: keyHash,
		level: level, scope: scope, lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.lru.Len() >= s.max {
		oldest := s.lru.Back()
		s.lru.Remove(oldest)
		delete(s.byTok, oldest.Value.(*session).token)
	}
	s.byTok[sess.token] = s.lru.PushFront(sess)
	return sess
}

// get returns a copy of the session of token and marks it seen, or false when there is none or it
// was idle too long (it is then ended).
func (s *sessions) get(token string, now time.Time) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byTok[token]
	if !ok {
		return session{}, false
	}
	sess := el.Value.(*session)
	if now.Sub(sess.lastSeen) > s.idle {
		s.lru.Remove(el)
		delete(s.byTok, token)
		return session{}, false
	}
	sess.lastSeen = now
	s.lru.MoveToFront(el)
	return *sess, true
}

// end ends the session of token, if any.
func (s *sessions) end(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byTok[token]; ok {
		s.lru.Remove(el)
		delete(s.byTok, token)
	}
}

// setFlash leaves a message, and a secret to show once, for the session's next page.
func (s *sessions) setFlash(token, flash, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byTok[token]; ok {
		sess := el.Value.(*session)
		sess.flash, sess.secret = flash, secret
	}
}

// takeFlash returns the session's message and secret and forgets them.
func (s *sessions) takeFlash(token string) (flash, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byTok[token]; ok {
		sess := el.Value.(*session)
		flash, secret = sess.flash, sess.secret
		sess.flash, sess.secret = "", ""
	}
	return flash, secret
}

// len counts the sessions kept.
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// sameToken compares a CSRF token sent with the session's in constant time.
func sameToken(sent, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(sent), []byte(want)) == 1
}

// LinkTTL is how long a one-time sign-in link is valid.
const LinkTTL = time.Minute

// linkClaims is what a sign-in link carries: the license's key hash (not its key), when the link
// expires, and a nonce that makes it usable once.
type linkClaims struct {
	KeyHash string `json:"h"`
	Expires int64  `json:"e"`
	Nonce   string `json:"n"`
}

// SignInToken returns a one-time sign-in token for the license whose key hashes to keyHash, valid
// for LinkTTL from now, signed with key (HMAC-SHA256). `hookd console --license` makes one; the
// console redeems it at /console/link?token=.
func SignInToken(key []byte, keyHash string, now time.Time) (string, error) {
	if len(key) < 32 {
		return "", errors.New("console: the link key must be at least 32 bytes")
	}
	payload, err := json.Marshal(linkClaims{KeyHash: keyHash, Expires: now.Add(LinkTTL).Unix(), Nonce: randomToken()})
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(linkMAC(key, p)), nil
}

func linkMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// errBadLink is every reason a link is refused: forged, expired or used.
var errBadLink = errors.New("this sign-in link is not valid: it was used already, has expired or was not made by this hookd")

// maxUsedLinks bounds the nonces remembered; a link is valid for a minute, so only a flood of
// links minted with the key (which only an operator holds) could fill it.
const maxUsedLinks = 10_000

// usedLinks remembers the nonces of the links redeemed until they expire, so each works once.
type usedLinks struct {
	mu   sync.Mutex
	used map[string]time.Time
}

// redeem checks token and marks it used; it returns the key hash it carries.
func (u *usedLinks) redeem(key []byte, token string, now time.Time) (string, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(key) == 0 {
		return "", errBadLink
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, linkMAC(key, p)) {
		return "", errBadLink
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return "", errBadLink
	}
	var claims linkClaims
	if err := json.Unmarshal(raw, &claims); err != nil || claims.Nonce == "" || now.Unix() > claims.Expires {
		return "", errBadLink
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for n, exp := range u.used {
		if now.After(exp) {
			delete(u.used, n)
		}
	}
	if _, seen := u.used[claims.Nonce]; seen || len(u.used) >= maxUsedLinks {
		return "", errBadLink
	}
	u.used[claims.Nonce] = time.Unix(claims.Expires, 0).Add(time.Second)
	return claims.KeyHash, nil
}
