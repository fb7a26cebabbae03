package sender

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd/domain/webhook"
)

// The OAuth 2.0 client-credentials fetch is written by hand rather than with
// golang.org/x/oauth2/clientcredentials: that package would need a new dependency, it reads token
// responses without a size limit, its errors (RetrieveError) quote the token endpoint's response
// body, and it caches per TokenSource, while hookd caches per webhook and must drop a token after a
// 401. The fetch is about forty lines.

const (
	// tokenMargin: a cached token is used until this long before it expires.
	tokenMargin = 30 * time.Second
	// tokenDefaultLifetime is assumed when the token endpoint sends no expires_in.
	tokenDefaultLifetime = time.Minute
	// maxTokenResponse bounds the token endpoint's answer.
	maxTokenResponse = 64 << 10
)

// tokenCache holds one access token per webhook id. Each entry has its own one-slot semaphore, so
// concurrent attempts for one webhook fetch a token once, and a slow token endpoint holds up only
// its own webhook.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]*tokenEntry
}

type tokenEntry struct {
	sem chan struct{}
	// Guarded by sem.
	token       string
	expires     time.Time
	fingerprint [32]byte
}

func newTokenCache() *tokenCache { return &tokenCache{entries: map[string]*tokenEntry{}} }

func (c *tokenCache) entry(webhookID string) *tokenEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[webhookID]
	if !ok {
		e = &tokenEntry{sem: make(chan struct{}, 1)}
		c.entries[webhookID] = e
	}
	return e
}

// Forget drops the cached OAuth 2.0 token of a webhook, for instance when it is deleted.
func (s *Sender) Forget(webhookID string) {
	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	delete(s.tokens.entries, webhookID)
}

// fingerprint identifies the client a token was issued to, so that a change of token URL, client
// or scopes is never served a token fetched for the old settings. It is a hash: the cache keeps no
// copy of the secret.
func fingerprint(ep webhook.Endpoint) [32]byte {
	h := sha256.New()
	for _, part := range []string{ep.OAuthTokenURL, ep.Credential.OAuth2.ClientID,
		ep.Credential.OAuth2.ClientSecret, strings.Join(ep.OAuthScopes, " ")} {
		_, _ = io.WriteString(h, strconv.Itoa(len(part))+":"+part)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// token returns an access token for req's webhook, from the cache or the token endpoint. stale is
// a token the target just refused with 401: it is not returned again. The second result is an
// error class, "" on success.
func (s *Sender) token(ctx context.Context, req Request, timeout time.Duration, stale string) (string, string) {
	e := s.tokens.entry(req.WebhookID)
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return "", classify(ctx, ctx.Err())
	}
	defer func() { <-e.sem }()

	fp := fingerprint(req.Endpoint)
	now := s.cfg.Clock()
	if e.token != "" && e.fingerprint == fp && e.token != stale && now.Before(e.expires) {
		return e.token, ""
	}
	e.token = ""
	token, lifetime, class := s.fetchToken(ctx, req.Endpoint, timeout)
	if class != "" {
		return "", class
	}
	margin := tokenMargin
	if lifetime <= 2*margin {
		margin = lifetime / 2
	}
	e.token, e.expires, e.fingerprint = token, s.cfg.Clock().Add(lifetime-margin), fp
	return token, ""
}

// fetchToken runs the client-credentials grant (RFC 6749 §4.4). The client authenticates with HTTP
// Basic (§2.3.1), which every authorization server must support; client id and secret are
// form-urlencoded first, as §2.3.1 requires. Errors are reduced to a class: the token endpoint's
// answer is never kept, since it may echo what it was sent.
func (s *Sender) fetchToken(ctx context.Context, ep webhook.Endpoint, timeout time.Duration) (string, time.Duration, string) {
	fetchCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	form := url.Values{"grant_type": {webhook.GrantClientCredentials}}
	if len(ep.OAuthScopes) > 0 {
		form.Set("scope", strings.Join(ep.OAuthScopes, " "))
	}
	req, err := http.NewRequestWithContext(fetchCtx, http.MethodPost, ep.OAuthTokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, ClassOAuth2
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	req.SetBasicAuth(url.QueryEscape(ep.Credential.OAuth2.ClientID), url.QueryEscape(ep.Credential.OAuth2.ClientSecret))

	resp, err := s.client.Do(req)
	if err != nil {
		switch class := classify(ctx, err); class {
		case ClassBlocked, ClassCanceled:
			return "", 0, class
		}
		return "", 0, ClassOAuth2
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil || len(body) > maxTokenResponse || resp.StatusCode != http.StatusOK {
		return "", 0, ClassOAuth2
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" ||
		(tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer")) {
		return "", 0, ClassOAuth2
	}
	return tr.AccessToken, expiresIn(tr.ExpiresIn), ""
}

// expiresIn reads expires_in, a number of seconds that some servers send as a string. Missing or
// unreadable means tokenDefaultLifetime.
func expiresIn(raw json.RawMessage) time.Duration {
	text := strings.Trim(string(raw), `"`)
	seconds, err := strconv.ParseFloat(text, 64)
	if err != nil || seconds <= 0 || seconds > 1e7 {
		return tokenDefaultLifetime
	}
	return time.Duration(seconds * float64(time.Second))
}
