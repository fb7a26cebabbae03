package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/platform"
	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/projections/webhookview"
)

// webhookForm is the create and edit form as the browser sent it (or as it is first filled), and
// the problems to show beside its fields.
type webhookForm struct {
	Name, URL, EventNames, Tags, Query, Criteria, AuthType                      string
	Username, Password, Token, KeyName, KeyValue, ClientID, ClientSecret        string
	OAuthTokenURL, OAuthScopes, SuccessCodes, RetryCodes, RetryCount, TTL, Rate string
	Secret                                                                      string
	Version                                                                     string
	// Picked are the event names ticked among Known, the names seen and the platform's catalogue.
	Picked, Known []string
	// Problems maps a form field to what is wrong with it, in the API's words.
	Problems map[string][]string
	// Editing is true on the edit form, where an empty credential keeps the present one.
	Editing bool
}

// defaultForm is a new webhook's form: the defaults hookd's users most often keep.
func defaultForm() webhookForm {
	return webhookForm{Criteria: "ANY", AuthType: "none", SuccessCodes: "200, 201, 202, 204",
		RetryCodes: "0, 429, 500, 502, 503, 504", RetryCount: "2", TTL: "5", Rate: "0"}
}

// formOf fills the form from a webhook's settings, credentials left blank.
func formOf(w webhookview.Webhook) webhookForm {
	s := w.Settings
	q := make([]string, len(s.Query))
	for i, e := range s.Query {
		v, _ := json.Marshal(e.Value)
		if str, ok := e.Value.(string); ok && !needsQuotes(str) {
			v = []byte(str)
		}
		q[i] = e.Key + "=" + string(v)
	}
	return webhookForm{Name: s.Name, URL: s.API.URL, Picked: s.EventNames, Tags: strings.Join(s.Tags, ", "),
		Query: strings.Join(q, "\n"), Criteria: s.Criteria.String(), AuthType: s.API.AuthType.String(),
		OAuthTokenURL: s.API.OAuthTokenURL, OAuthScopes: strings.Join(s.API.OAuthScopes, " "),
		SuccessCodes: codes(s.SuccessCodes), RetryCodes: codes(s.RetryCodes), RetryCount: strconv.Itoa(s.RetryCount),
		TTL: strconv.Itoa(s.TTL), Rate: strconv.Itoa(s.RateLimit), Version: strconv.FormatUint(w.Version, 10), Editing: true}
}

// needsQuotes reports whether a string query value would read as another JSON type unquoted.
func needsQuotes(s string) bool {
	var v any
	return json.Unmarshal([]byte(s), &v) == nil
}

// readForm reads the posted form.
func readForm(c *fiber.Ctx) webhookForm {
	f := webhookForm{
		Name: c.FormValue("name"), URL: strings.TrimSpace(c.FormValue("url")), EventNames: c.FormValue("eventNames"),
		Tags: c.FormValue("tags"), Query: c.FormValue("query"), Criteria: c.FormValue("criteria"), AuthType: c.FormValue("authType"),
		Username: c.FormValue("username"), Password: c.FormValue("password"), Token: c.FormValue("token"),
		KeyName: c.FormValue("keyName"), KeyValue: c.FormValue("keyValue"), ClientID: c.FormValue("clientId"),
		ClientSecret: c.FormValue("clientSecret"), OAuthTokenURL: strings.TrimSpace(c.FormValue("oAuthTokenUrl")),
		OAuthScopes: c.FormValue("oAuthScopes"), SuccessCodes: c.FormValue("successCodes"), RetryCodes: c.FormValue("retryCodes"),
		RetryCount: c.FormValue("retryCount"), TTL: c.FormValue("ttl"), Rate: c.FormValue("rateLimit"),
		Secret: c.FormValue("secret"), Version: c.FormValue("version"),
	}
	for k, v := range c.Request().PostArgs().All() {
		if string(k) == "eventName" {
			f.Picked = append(f.Picked, string(v))
		}
	}
	return f
}

func (f *webhookForm) problem(field, message string) {
	if f.Problems == nil {
		f.Problems = map[string][]string{}
	}
	f.Problems[field] = append(f.Problems[field], message)
}

// splitList splits a comma, space or newline separated list.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func (f *webhookForm) ints(field, raw string) []int {
	out := []int{}
	for _, part := range splitList(raw) {
		n, err := strconv.Atoi(part)
		if err != nil {
			f.problem(field, "must be whole numbers separated by commas")
			return nil
		}
		out = append(out, n)
	}
	return out
}

func (f *webhookForm) number(field, raw string) int {
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil {
		f.problem(field, "must be a whole number")
	}
	return n
}

// patch turns the form into the same settings patch the API's body makes, noting the problems
// the form's own shape has (a number that is not one); the use case then validates the rest.
func (f *webhookForm) patch() command.SettingsPatch {
	names := slices.Clone(f.Picked)
	for _, n := range splitList(f.EventNames) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	tags := []string{}
	for _, t := range strings.Split(f.Tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	query := []webhook.QueryEntry{}
	for i, line := range strings.Split(f.Query, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok {
			f.problem("query", "line "+strconv.Itoa(i+1)+" must read key=value")
			continue
		}
		var value any = strings.TrimSpace(raw)
		var parsed any
		if json.Unmarshal([]byte(strings.TrimSpace(raw)), &parsed) == nil {
			value = parsed
		}
		query = append(query, webhook.QueryEntry{Key: strings.TrimSpace(key), Value: value})
	}
	p := command.SettingsPatch{Name: &f.Name, EventNames: &names, Tags: &tags, Query: &query}
	success, retry := f.ints("successCodes", f.SuccessCodes), f.ints("retryCodes", f.RetryCodes)
	count, ttl, rateLimit := f.number("retryCount", f.RetryCount), f.number("ttl", f.TTL), f.number("rateLimit", f.Rate)
	p.SuccessCodes, p.RetryCodes, p.RetryCount, p.TTL, p.RateLimit = &success, &retry, &count, &ttl, &rateLimit
	if criteria, err := webhook.ParseCriteria(f.Criteria); err != nil {
		f.problem("criteria", `must be "ANY" or "ALL"`)
	} else {
		p.Criteria = &criteria
	}
	method := webhook.EndpointType
	ep := &command.EndpointPatch{Type: &method, URL: &f.URL}
	authType, err := webhook.ParseAuthType(f.AuthType)
	if err != nil {
		f.problem("api.authType", "must be one of none, basic, bearer, api_key, oauth2")
	} else {
		ep.AuthType = &authType
	}
	if authType == webhook.AuthOAuth2 {
		grant, scopes := webhook.GrantClientCredentials, splitList(f.OAuthScopes)
		ep.OAuthGrantType, ep.OAuthTokenURL, ep.OAuthScopes = &grant, &f.OAuthTokenURL, &scopes
	}
	cred := webhook.Credential{Username: f.Username, Password: f.Password, Token: f.Token, KeyName: f.KeyName,
		KeyValue: f.KeyValue, OAuth2: webhook.OAuth2Credential{ClientID: f.ClientID, ClientSecret: f.ClientSecret}}
	// On an edit, blank credential fields keep the present credential, as an API update without
	// one does; the console never had it to send back.
	if !f.Editing || cred != (webhook.Credential{}) {
		ep.Credential = &cred
	}
	p.API = ep
	return p
}

// checkTargets applies the API's target check to the form's URLs.
func (f *webhookForm) checkTargets(check func(string) error) {
	if check == nil {
		return
	}
	for field, value := range map[string]string{"api.url": f.URL, "api.oAuthTokenUrl": f.OAuthTokenURL} {
		if value == "" {
			continue
		}
		if err := check(value); err != nil {
			f.problem(field, err.Error())
		}
	}
}

var indexSuffix = regexp.MustCompile(`\[\d+\]`)

// takeProblems puts a validation error's problems beside the form's fields; it reports whether err
// was one.
func (f *webhookForm) takeProblems(err error) bool {
	var v *webhook.ValidationError
	if !errors.As(err, &v) {
		return false
	}
	for _, p := range v.Problems {
		field := p.Field
		// The API names list items (eventNames[2]) and credential fields; the form has one input
		// for each list and groups the credential.
		message := p.Message
		if bare := indexSuffix.ReplaceAllString(field, ""); bare != field {
			message = field + " " + message
			field = bare
		}
		if strings.HasPrefix(field, "api.credential") {
			message, field = p.Field+" "+p.Message, "api.credential"
		}
		f.problem(field, message)
	}
	return true
}

// knownNames are the event names a form offers to tick: those seen in the community, then the
// platform's catalogue, then the webhook's own.
func (s *Console) knownNames(c *fiber.Ctx, f *webhookForm) error {
	seen, err := s.cfg.Deliveries.EventNames(c.UserContext(), c.Params("tenant"), c.Params("community"), 200)
	if err != nil {
		return err
	}
	known := append(seen, platform.Names()...)
	for _, n := range f.Picked {
		if !slices.Contains(known, n) {
			known = append(known, n)
		}
	}
	slices.Sort(known)
	f.Known = slices.Compact(known)
	return nil
}

func (s *Console) showForm(c *fiber.Ctx, code int, f webhookForm, title, action string, crumbs []crumb) error {
	if err := s.knownNames(c, &f); err != nil {
		return err
	}
	c.Status(code)
	return s.render(c, "form", pageData{Title: title, Crumbs: crumbs, Data: map[string]any{"Form": f, "Action": action}})
}

func (s *Console) newCrumbs(c *fiber.Ctx) []crumb {
	tenant, community := c.Params("tenant"), c.Params("community")
	return []crumb{{Label: "Communities", Href: Prefix + "/"}, {Label: tenant + " / " + community, Href: communityPath(tenant, community)},
		{Label: "new webhook"}}
}

func (s *Console) newWebhookPage(c *fiber.Ctx) error {
	return s.showForm(c, http.StatusOK, defaultForm(), "New webhook", communityPath(c.Params("tenant"), c.Params("community"))+"new", s.newCrumbs(c))
}

// createWebhook creates the webhook through the API's use case; the secret, given or generated, is
// shown once on the webhook's page.
func (s *Console) createWebhook(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	f := readForm(c)
	patch := f.patch()
	f.checkTargets(s.cfg.CheckTargetURL)
	if f.Problems == nil {
		sess := sessionOf(c)
		w, res, err := s.cfg.Webhooks.Create(c.UserContext(), command.CreateWebhook{
			TenantID: tenant, CommunityID: community, Settings: patch.Apply(webhook.Settings{}),
			CreatedBy: "console", Secret: f.Secret,
		}, caller(sess))
		if err == nil {
			return s.done(c, res, webhookPath(tenant, community, w.ID()),
				"Webhook created. Copy its signing secret now: it is not shown again.", w.Secret())
		}
		if !f.takeProblems(err) {
			return err
		}
	}
	return s.showForm(c, http.StatusBadRequest, f, "New webhook", communityPath(tenant, community)+"new", s.newCrumbs(c))
}

func (s *Console) editCrumbs(c *fiber.Ctx, w webhookview.Webhook) []crumb {
	tenant, community := c.Params("tenant"), c.Params("community")
	return []crumb{{Label: "Communities", Href: Prefix + "/"}, {Label: tenant + " / " + community, Href: communityPath(tenant, community)},
		{Label: w.Settings.Name, Href: webhookPath(tenant, community, w.ID)}, {Label: "edit"}}
}

func (s *Console) editWebhookPage(c *fiber.Ctx) error {
	w, id, err := s.webhookOf(c)
	if err != nil {
		return err
	}
	return s.showForm(c, http.StatusOK, formOf(w), "Edit "+w.Settings.Name, webhookPath(w.TenantID, w.CommunityID, id)+"/edit", s.editCrumbs(c, w))
}

// updateWebhook applies the form through the API's update use case, at the version the form was
// read at, so that a change made since is reported rather than overwritten.
func (s *Console) updateWebhook(c *fiber.Ctx) error {
	tenant, community := c.Params("tenant"), c.Params("community")
	w, id, err := s.webhookOf(c)
	if err != nil {
		return err
	}
	f := readForm(c)
	f.Editing = true
	patch := f.patch()
	f.checkTargets(s.cfg.CheckTargetURL)
	version, verr := strconv.ParseInt(f.Version, 10, 64)
	if verr != nil {
		return &pageError{http.StatusBadRequest, "the form lacks the webhook's version; open the edit page again"}
	}
	if f.Problems == nil {
		_, res, err := s.cfg.Webhooks.Update(c.UserContext(), command.UpdateWebhook{
			TenantID: tenant, CommunityID: community, WebhookID: id, Patch: patch, ExpectedVersion: &version,
		}, caller(sessionOf(c)))
		if err == nil {
			return s.done(c, res, webhookPath(tenant, community, id), "Webhook saved.", "")
		}
		if !f.takeProblems(err) {
			return err
		}
	}
	return s.showForm(c, http.StatusBadRequest, f, "Edit "+w.Settings.Name, webhookPath(tenant, community, id)+"/edit", s.editCrumbs(c, w))
}
