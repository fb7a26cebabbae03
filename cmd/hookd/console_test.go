package main

// The console over plain HTTP: what needs no browser to check.

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// consoleClient is a browser without JavaScript: a cookie jar, and no redirect followed.
type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newConsoleClient(t *testing.T, base string) *consoleClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a GET (form nil) or a form POST and returns the status, the headers and the body.
func (cc *consoleClient) do(method, path string, form url.Values) (int, http.Header, string) {
	cc.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, cc.base+path, body)
	if err != nil {
		cc.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := cc.c.Do(req)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		cc.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the CSRF token a page's forms carry.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page: %.300s", page)
	}
	return m[1]
}

// signIn signs in with key through the sign-in form and returns the session's Set-Cookie.
func (cc *consoleClient) signIn(key string) string {
	cc.t.Helper()
	_, _, page := cc.do(http.MethodGet, "/console/signin", nil)
	status, hdr, body := cc.do(http.MethodPost, "/console/signin", url.Values{"csrf": {csrfOf(cc.t, page)}, "license": {key}})
	if status != http.StatusSeeOther || hdr.Get("Location") != "/console/" {
		cc.t.Fatalf("sign-in: %d %s %.300s", status, hdr.Get("Location"), body)
	}
	for _, c := range hdr.Values("Set-Cookie") {
		if strings.HasPrefix(c, "hookd_console=") {
			return c
		}
	}
	cc.t.Fatalf("sign-in set no session cookie: %v", hdr.Values("Set-Cookie"))
	return ""
}

func TestConsoleRefusesAPostWithoutItsCSRFToken(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("guarded"))
	cc := newConsoleClient(t, h.url)
	disable := "/console/t/t1/c/c1/w/" + w.ID + "/disable"

	// No session at all.
	if status, _, _ := cc.do(http.MethodPost, disable, url.Values{}); status != http.StatusForbidden {
		t.Fatalf("a POST without a session: %d, want 403", status)
	}
	cookie := cc.signIn(h.license)
	for _, flag := range []string{"HttpOnly", "SameSite=Strict", "path=/console"} {
		if !strings.Contains(cookie, flag) {
			t.Errorf("the session cookie %q lacks %s", cookie, flag)
		}
	}
	if strings.Contains(cookie, "secure") {
		t.Errorf("the session cookie over plain HTTP is Secure: %q", cookie)
	}
	_, _, page := cc.do(http.MethodGet, "/console/t/t1/c/c1/w/"+w.ID, nil)
	token := csrfOf(t, page)
	for name, form := range map[string]url.Values{
		"without a token": {}, "with an empty token": {"csrf": {""}}, "with another token": {"csrf": {token[:len(token)-2] + "xx"}},
	} {
		status, _, body := cc.do(http.MethodPost, disable, form)
		if status != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("a POST %s: %d %.200s, want 403 naming the CSRF token", name, status, body)
		}
	}
	var got apiWebhookJSON
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, &got)
	if got.Disabled {
		t.Fatal("a refused POST disabled the webhook")
	}
	// The same POST with the token works: the 403s were the token's doing.
	if status, hdr, body := cc.do(http.MethodPost, disable, url.Values{"csrf": {token}}); status != http.StatusSeeOther {
		t.Fatalf("a POST with the token: %d %s %.200s", status, hdr.Get("Location"), body)
	}
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, &got)
	if !got.Disabled {
		t.Fatal("the POST with its token did not disable the webhook")
	}
	// And it is in the log with the signed-in license as its actor.
	var history struct {
		Data []struct{ Type, Actor string }
	}
	h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+w.ID+"/history", nil), http.StatusOK, &history)
	last := history.Data[len(history.Data)-1]
	if last.Type != "WebhookDisabled" || !strings.HasPrefix(last.Actor, "license:") {
		t.Fatalf("the last lifecycle event is %+v, want WebhookDisabled by the license", last)
	}
	// The sign-in form has its own token: a POST without it signs nobody in.
	other := newConsoleClient(t, h.url)
	if status, _, _ := other.do(http.MethodPost, "/console/signin", url.Values{"license": {h.license}}); status != http.StatusForbidden {
		t.Fatalf("a sign-in POST without its token: %d, want 403", status)
	}
}

func TestConsoleServiceLicenseSeesNoSecretNorOtherTenant(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	body := apiMinimal("with secrets")
	body["api"] = map[string]any{"url": "https://hooks.example.com/in", "authType": "basic",
		"credential": map[string]any{"username": "u", "password": "pass-SECRET-basic"}}
	w := apiCreate(h, h.license, scope, body)
	apiCreate(h, h.license, apiScope("t2", "c2"), apiMinimal("not yours"))
	key := apiIssueLicense(h, "--level", "service", "--tenant", "t1", "--community", "c1")
	cc := newConsoleClient(t, h.url)
	cc.signIn(key)
	for _, path := range []string{"/console/", "/console/t/t1/c/c1/", "/console/t/t1/c/c1/w/" + w.ID, "/console/t/t1/c/c1/w/" + w.ID + "/edit"} {
		status, _, page := cc.do(http.MethodGet, path, nil)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", path, status)
		}
		for _, secret := range []string{"pass-SECRET-basic", *w.Secret} {
			if strings.Contains(page, secret) {
				t.Errorf("%s shows a secret to a service license", path)
			}
		}
		if strings.Contains(page, "not yours") || strings.Contains(page, ">t2<") {
			t.Errorf("%s shows another tenant's webhook", path)
		}
	}
	for _, path := range []string{"/console/t/t2/c/c2/", "/console/t/t1/c/other/", "/console/t/t2/c/c2/new"} {
		if status, _, _ := cc.do(http.MethodGet, path, nil); status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", path, status)
		}
	}
}

func TestConsoleCommandPrintsTheURLAndAOneTimeLink(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	out, err := h.runCLI("console")
	if err != nil || strings.TrimSpace(out) != h.url+"/console/" {
		t.Fatalf("hookd console: %q %v, want %s/console/", out, err, h.url)
	}
	out, err = h.runCLI("console", "--license", h.license)
	if err != nil {
		t.Fatal(err)
	}
	link := strings.TrimSpace(out)
	if !strings.HasPrefix(link, h.url+"/console/link?token=") {
		t.Fatalf("the sign-in link %q", link)
	}
	path := strings.TrimPrefix(link, h.url)
	cc := newConsoleClient(t, h.url)
	if status, hdr, body := cc.do(http.MethodGet, path, nil); status != http.StatusSeeOther || hdr.Get("Location") != "/console/" {
		t.Fatalf("the link: %d %s %.300s", status, hdr.Get("Location"), body)
	}
	if status, _, _ := cc.do(http.MethodGet, "/console/", nil); status != http.StatusOK {
		t.Fatalf("the link signed nobody in: %d", status)
	}
	// Once only, even in another browser.
	if status, _, body := newConsoleClient(t, h.url).do(http.MethodGet, path, nil); status != http.StatusUnauthorized ||
		!strings.Contains(body, "used already") {
		t.Fatalf("the link used twice: %d %.300s", status, body)
	}
	// A link tampered with is refused.
	if status, _, _ := newConsoleClient(t, h.url).do(http.MethodGet, path[:len(path)-3]+"AAA", nil); status != http.StatusUnauthorized {
		t.Fatalf("a forged link: %d, want 401", status)
	}
	// A link for a key nobody issued signs nobody in.
	out, err = h.runCLI("console", "--license", "no-such-license-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := newConsoleClient(t, h.url).do(http.MethodGet, strings.TrimPrefix(strings.TrimSpace(out), h.url), nil); status != http.StatusUnauthorized {
		t.Fatalf("a link for an unknown key: %d, want 401", status)
	}
}

func TestConsoleSettingsFromTheEnvironment(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"HOOKD_CONSOLE_IDLE_TIMEOUT": "10s"}, {"HOOKD_CONSOLE_IDLE_TIMEOUT": "soon"}, {"HOOKD_CONSOLE_IDLE_TIMEOUT": "25h"},
		{"HOOKD_CONSOLE_MAX_SESSIONS": "0"}, {"HOOKD_CONSOLE_MAX_SESSIONS": "many"},
	} {
		if _, err := configFromEnv(func(k string) string { return env[k] }); err == nil {
			t.Errorf("%v was taken", env)
		}
	}
	cfg, err := configFromEnv(func(k string) string {
		return map[string]string{"HOOKD_CONSOLE_IDLE_TIMEOUT": "5m", "HOOKD_CONSOLE_MAX_SESSIONS": "7"}[k]
	})
	if err != nil || cfg.ConsoleIdle != 5*time.Minute || cfg.ConsoleSessions != 7 {
		t.Fatalf("%v %v %d", err, cfg.ConsoleIdle, cfg.ConsoleSessions)
	}
}

func TestConsoleBehindTLSMarksItsCookieSecure(t *testing.T) {
	t.Parallel()
	h := startHookd(t, map[string]string{"HOOKD_PUBLIC_URL": "https://hooks.example.com"})
	if u := consoleURL(h.cfg); u != "https://hooks.example.com/console/" {
		t.Fatalf("the console's URL behind HOOKD_PUBLIC_URL: %q", u)
	}
	cookie := newConsoleClient(t, h.url).signIn(h.license)
	if !strings.Contains(cookie, "secure") {
		t.Fatalf("the session cookie of a console behind https lacks Secure: %q", cookie)
	}
}
