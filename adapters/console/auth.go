package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/license"
	"github.com/hookd/hookd/domain/webhook"
)

// Cookie names: the session's, and the sign-in form's CSRF token before any session exists.
const (
	sessionCookie = "hookd_console"
	preCookie     = "hookd_console_signin"
)

const sessionKey = "hookd.console.session"

func sessionOf(c *fiber.Ctx) session {
	sess, _ := c.Locals(sessionKey).(session)
	return sess
}

// setCookie sets an HttpOnly, SameSite=Strict cookie scoped to the console; Secure over TLS or when
// the console is told it sits behind TLS.
func (s *Console) setCookie(c *fiber.Ctx, name, value string, maxAge time.Duration) {
	c.Cookie(&fiber.Cookie{
		Name: name, Value: value, Path: Prefix, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
		Secure: s.cfg.SecureCookies || c.Context().IsTLS(), MaxAge: int(maxAge.Seconds()),
	})
}

func (s *Console) clearCookie(c *fiber.Ctx, name string) {
	c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: Prefix, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode,
		Secure: s.cfg.SecureCookies || c.Context().IsTLS(), MaxAge: -1})
}

// signInPage shows the sign-in form, with a fresh CSRF token in a cookie and the form (double submit).
func (s *Console) signInPage(c *fiber.Ctx) error {
	return s.showSignIn(c, http.StatusOK, signInNotes[c.Query("why")])
}

func (s *Console) showSignIn(c *fiber.Ctx, code int, problem string) error {
	token := randomToken()
	s.setCookie(c, preCookie, token, 10*time.Minute)
	c.Status(code)
	return s.render(c, "signin", pageData{Title: "Sign in", CSRF: token, Data: map[string]any{"Problem": problem}})
}

// signIn checks the license key as the API does (known by its hash, not revoked) and starts a session.
func (s *Console) signIn(c *fiber.Ctx) error {
	if !sameToken(c.FormValue("csrf"), c.Cookies(preCookie)) {
		return &pageError{http.StatusForbidden, "the sign-in form expired or was not sent from this console; reload it and try again"}
	}
	key := strings.TrimSpace(c.FormValue("license"))
	if key == "" {
		return s.showSignIn(c, http.StatusBadRequest, "Enter a license key.")
	}
	return s.startSession(c, command.KeyHash(key))
}

// startSession signs the license whose key hashes to keyHash in, or shows the sign-in form again.
func (s *Console) startSession(c *fiber.Ctx, keyHash string) error {
	lic, err := s.cfg.Licenses.ByKeyHash(c.UserContext(), keyHash)
	if errors.Is(err, license.ErrNotFound) {
		return s.showSignIn(c, http.StatusUnauthorized, "Unknown license key.")
	}
	if err != nil {
		return err
	}
	if lic.Revoked {
		return s.showSignIn(c, http.StatusUnauthorized, "This license was revoked.")
	}
	if old := c.Cookies(sessionCookie); old != "" {
		s.sessions.end(old)
	}
	sess := s.sessions.start(lic.ID, lic.KeyHash, lic.Level, lic.Scope, s.cfg.Clock())
	s.setCookie(c, sessionCookie, sess.token, 0)
	s.clearCookie(c, preCookie)
	return c.Redirect(Prefix+"/", http.StatusSeeOther)
}

// redeemLink signs in with a one-time link that `hookd console --license` printed.
func (s *Console) redeemLink(c *fiber.Ctx) error {
	keyHash, err := s.links.redeem(s.cfg.LinkKey, c.Query("token"), s.cfg.Clock())
	if err != nil {
		return s.showSignIn(c, http.StatusUnauthorized, err.Error())
	}
	return s.startSession(c, keyHash)
}

// requireSession admits a request with a live session of a license still valid, and a POST only
// with the session's CSRF token; anything else goes to the sign-in page (403 for a POST).
func (s *Console) requireSession(c *fiber.Ctx) error {
	token := c.Cookies(sessionCookie)
	sess, ok := s.sessions.get(token, s.cfg.Clock())
	if !ok {
		why := "expired"
		if token == "" {
			why = ""
		}
		return s.away(c, why)
	}
	// Checked on every request, so that a revocation ends the session at once.
	lic, err := s.cfg.Licenses.ByKeyHash(c.UserContext(), sess.keyHash)
	if errors.Is(err, license.ErrNotFound) || (err == nil && lic.Revoked) {
		s.sessions.end(token)
		return s.away(c, "revoked")
	}
	if err != nil {
		return err
	}
	if c.Method() == fiber.MethodPost && !sameToken(c.FormValue("csrf"), sess.csrf) {
		return &pageError{http.StatusForbidden, "this form is missing its CSRF token or has a stale one; reload the page and try again"}
	}
	c.Locals(sessionKey, sess)
	return c.Next()
}

// signInNotes are the notes the sign-in page shows, by the why its URL carries: only these, so
// that a link cannot put words on the page.
var signInNotes = map[string]string{
	"expired":   "Your session has ended; sign in again.",
	"revoked":   "The license was revoked; the session has ended.",
	"signedout": "Signed out.",
}

// away sends a request without a session to the sign-in page; a POST is refused outright, since
// it carries no CSRF token that a session could have checked.
func (s *Console) away(c *fiber.Ctx, why string) error {
	s.clearCookie(c, sessionCookie)
	if c.Method() == fiber.MethodPost {
		return &pageError{http.StatusForbidden, "you are not signed in; sign in and try again"}
	}
	if why == "" {
		return c.Redirect(Prefix+"/signin", http.StatusSeeOther)
	}
	return c.Redirect(Prefix+"/signin?why="+why, http.StatusSeeOther)
}

// requireScope admits a community's pages only to a license that covers it.
func (s *Console) requireScope(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	if !webhook.ValidScopeID(tenant) || !webhook.ValidScopeID(community) {
		return notFound("community")
	}
	if !sessionOf(c).scope.Covers(tenant, community) {
		return &pageError{http.StatusForbidden, "your license does not cover tenant " + tenant + ", community " + community}
	}
	return c.Next()
}

func (s *Console) signOut(c *fiber.Ctx) error {
	s.sessions.end(c.Cookies(sessionCookie))
	s.clearCookie(c, sessionCookie)
	return c.Redirect(Prefix+"/signin?why=signedout", http.StatusSeeOther)
}
