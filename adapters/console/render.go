package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// pageData is what every page's template gets.
type pageData struct {
	Title string
	// Crumbs lead from the overview to the page, each a link but the last.
	Crumbs []crumb
	// Signed-in pages: who is signed in, the CSRF token of their forms, and a message and a secret
	// to show once.
	Who, CSRF, Flash, Secret string
	Data                     any
}

type crumb struct{ Label, Href string }

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		d := now.Sub(t).Round(time.Second)
		switch {
		case d < 0:
			return "in " + (-d).String()
		case d < time.Minute:
			return fmt.Sprintf("%d s ago", int(d.Seconds()))
		case d < time.Hour:
			return fmt.Sprintf("%d min ago", int(d.Minutes()))
		case d < 48*time.Hour:
			return fmt.Sprintf("%d h ago", int(d.Hours()))
		}
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	},
	"join": strings.Join,
	"ints": func(ns []int) string {
		parts := make([]string, len(ns))
		for i, n := range ns {
			parts[i] = fmt.Sprint(n)
		}
		return strings.Join(parts, ", ")
	},
	"add":  func(a, b int) int { return a + b },
	"has":  func(list []string, s string) bool { return slices.Contains(list, s) },
	"list": func(s ...string) []string { return s },
	// shown reports whether the form has a place for a field's problems; any other field's are
	// listed above the submit button, so that none goes unseen.
	"shown": func(field string) bool { return slices.Contains(formFields, field) },
}

// formFields are the fields the webhook form shows problems beside.
var formFields = []string{"name", "api.url", "eventNames", "tags", "query", "criteria", "api.authType", "api.oAuthTokenUrl",
	"api.oAuthScopes", "api.credential", "successCodes", "retryCodes", "retryCount", "ttl", "rateLimit"}

// parseTemplates parses each page with the layout, so that every page defines its own "content".
func parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes the page named, with the signed-in session's details when there is one.
func (s *Console) render(c *fiber.Ctx, page string, d pageData) error {
	t, ok := s.pages[page]
	if !ok {
		return fmt.Errorf("console: no template %q", page)
	}
	if sess := sessionOf(c); sess.token != "" {
		d.Who = scopeLabel(sess.level, sess.scope) + " · license " + sess.licenseID
		d.CSRF = sess.csrf
		d.Flash, d.Secret = s.sessions.takeFlash(sess.token)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	// Pages may show what only this session may see: no cache keeps them.
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	return c.Send(buf.Bytes())
}
