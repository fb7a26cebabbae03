package httpapi

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd/application/command"
	"github.com/hookd/hookd/domain/webhook"
)

// webhookBody is the body of a create (PUT) or an update (PATCH). Every field is a pointer so that a
// missing field can be told from a zero one: required on create, unchanged on update.
type webhookBody struct {
	EventNames   *[]string         `json:"eventNames"`
	Name         *string           `json:"name"`
	Disabled     *bool             `json:"disabled"`
	CreatedBy    *string           `json:"createdBy"`
	Tags         *[]string         `json:"tags"`
	Query        *[]map[string]any `json:"query"`
	Criteria     *string           `json:"criteria"`
	API          *apiBody          `json:"api"`
	SuccessCodes *[]int            `json:"successCodes"`
	RetryCodes   *[]int            `json:"retryCodes"`
	RetryCount   *int              `json:"retryCount"`
	TTL          *int              `json:"ttl"`
	RateLimit    *int              `json:"rateLimit"`
	Secret       *string           `json:"secret"`
}

type apiBody struct {
	Type           *string         `json:"type"`
	URL            *string         `json:"url"`
	AuthType       *string         `json:"authType"`
	OAuthGrantType *string         `json:"oAuthGrantType"`
	OAuthTokenURL  *string         `json:"oAuthTokenUrl"`
	OAuthScopes    *[]string       `json:"oAuthScopes"`
	Credential     *credentialJSON `json:"credential"`
}

type credentialJSON struct {
	Username string      `json:"username,omitempty"`
	Password string      `json:"password,omitempty"`
	KeyName  string      `json:"keyName,omitempty"`
	KeyValue string      `json:"keyValue,omitempty"`
	Token    string      `json:"token,omitempty"`
	OAuth2   *oauth2JSON `json:"oauth2,omitempty"`
}

type oauth2JSON struct {
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
}

func (c *credentialJSON) domain() webhook.Credential {
	out := webhook.Credential{
		Username: c.Username, Password: c.Password, KeyName: c.KeyName, KeyValue: c.KeyValue, Token: c.Token,
	}
	if c.OAuth2 != nil {
		out.OAuth2 = webhook.OAuth2Credential{ClientID: c.OAuth2.ClientID, ClientSecret: c.OAuth2.ClientSecret}
	}
	return out
}

// patch turns the body into the command's patch, checking what JSON's types cannot: enum values and
// the one-key shape of query entries.
func (b *webhookBody) patch() (command.SettingsPatch, error) {
	p := command.SettingsPatch{
		Name: b.Name, EventNames: b.EventNames, Tags: b.Tags, SuccessCodes: b.SuccessCodes,
		RetryCodes: b.RetryCodes, RetryCount: b.RetryCount, TTL: b.TTL, RateLimit: b.RateLimit,
	}
	if b.Query != nil {
		query, err := queryEntries(*b.Query)
		if err != nil {
			return p, err
		}
		p.Query = &query
	}
	if b.Criteria != nil {
		criteria, err := webhook.ParseCriteria(*b.Criteria)
		if err != nil {
			return p, badRequest(`criteria must be "ANY" or "ALL"`)
		}
		p.Criteria = &criteria
	}
	if a := b.API; a != nil {
		ep := &command.EndpointPatch{
			Type: a.Type, URL: a.URL, OAuthGrantType: a.OAuthGrantType, OAuthTokenURL: a.OAuthTokenURL,
			OAuthScopes: a.OAuthScopes,
		}
		if a.AuthType != nil {
			authType, err := webhook.ParseAuthType(*a.AuthType)
			if err != nil {
				return p, badRequest("api.authType must be one of none, basic, bearer, api_key, oauth2")
			}
			ep.AuthType = &authType
		}
		if a.Credential != nil {
			credential := a.Credential.domain()
			ep.Credential = &credential
		}
		p.API = ep
	}
	return p, nil
}

// checkTargets applies check (Config.CheckTargetURL) to the URLs a body sets, and names every
// refused one by its field.
func (b *webhookBody) checkTargets(check func(string) error) error {
	if check == nil || b.API == nil {
		return nil
	}
	var problems []webhook.Problem
	for field, value := range map[string]*string{"api.url": b.API.URL, "api.oAuthTokenUrl": b.API.OAuthTokenURL} {
		if value == nil || *value == "" {
			continue
		}
		if err := check(*value); err != nil {
			problems = append(problems, webhook.Problem{Field: field, Message: err.Error()})
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.SortFunc(problems, func(a, b webhook.Problem) int { return strings.Compare(a.Field, b.Field) })
	return &webhook.ValidationError{Problems: problems}
}

// queryEntries reads 1Kosmos's query form, a list of objects with one key each.
func queryEntries(in []map[string]any) ([]webhook.QueryEntry, error) {
	out := make([]webhook.QueryEntry, 0, len(in))
	for i, entry := range in {
		if len(entry) != 1 {
			return nil, badRequest(fmt.Sprintf("query[%d] must be an object with exactly one key", i))
		}
		for key, value := range entry {
			out = append(out, webhook.QueryEntry{Key: key, Value: value})
		}
	}
	return out, nil
}

// missingForCreate lists the fields a create must have, as the seed marks them, that the body lacks.
func (b *webhookBody) missingForCreate() []string {
	var missing []string
	if b.EventNames == nil {
		missing = append(missing, "eventNames")
	}
	if b.Name == nil {
		missing = append(missing, "name")
	}
	if b.API == nil {
		missing = append(missing, "api")
	}
	if b.SuccessCodes == nil {
		missing = append(missing, "successCodes")
	}
	return missing
}

// webhookJSON is a webhook as the API shows it, in the seed's field order.
type webhookJSON struct {
	ID           string           `json:"_id"`
	TenantID     string           `json:"tenantId"`
	CommunityID  string           `json:"communityId"`
	EventNames   []string         `json:"eventNames"`
	Name         string           `json:"name"`
	Disabled     bool             `json:"disabled"`
	CreatedBy    string           `json:"createdBy"`
	Tags         []string         `json:"tags"`
	Query        []map[string]any `json:"query"`
	Criteria     string           `json:"criteria"`
	API          apiJSON          `json:"api"`
	SuccessCodes []int            `json:"successCodes"`
	RetryCodes   []int            `json:"retryCodes"`
	RetryCount   int              `json:"retryCount"`
	TTL          int              `json:"ttl"`
	RateLimit    int              `json:"rateLimit"`
	Secret       string           `json:"secret,omitempty"`
	Version      uint64           `json:"version"`
	CreatedAt    *time.Time       `json:"createdAt,omitempty"`
	UpdatedAt    *time.Time       `json:"updatedAt,omitempty"`
}

type apiJSON struct {
	Type           string          `json:"type"`
	URL            string          `json:"url"`
	AuthType       string          `json:"authType"`
	OAuthGrantType string          `json:"oAuthGrantType,omitempty"`
	OAuthTokenURL  string          `json:"oAuthTokenUrl,omitempty"`
	OAuthScopes    []string        `json:"oAuthScopes"`
	Credential     *credentialJSON `json:"credential,omitempty"`
}

// settingsJSON fills the settings part of a webhook's JSON; the credential is left to the caller,
// which alone knows whether this reader may see it.
func settingsJSON(out *webhookJSON, s webhook.Settings) {
	out.EventNames, out.Name, out.Tags = s.EventNames, s.Name, s.Tags
	out.Query = make([]map[string]any, len(s.Query))
	for i, q := range s.Query {
		out.Query[i] = map[string]any{q.Key: jsonNumber(q.Value)}
	}
	out.Criteria = s.Criteria.String()
	out.API = apiJSON{
		Type: s.API.Type, URL: s.API.URL, AuthType: s.API.AuthType.String(), OAuthGrantType: s.API.OAuthGrantType,
		OAuthTokenURL: s.API.OAuthTokenURL, OAuthScopes: s.API.OAuthScopes,
	}
	if out.API.OAuthScopes == nil {
		out.API.OAuthScopes = []string{}
	}
	out.SuccessCodes, out.RetryCodes, out.RetryCount, out.TTL = s.SuccessCodes, s.RetryCodes, s.RetryCount, s.TTL
	out.RateLimit = s.RateLimit
}

// jsonNumber writes whole numbers as integers, as the integrator sent them.
func jsonNumber(v any) any {
	if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return v
}

func credentialToJSON(c webhook.Credential) *credentialJSON {
	out := &credentialJSON{Username: c.Username, Password: c.Password, KeyName: c.KeyName, KeyValue: c.KeyValue, Token: c.Token}
	if c.OAuth2 != (webhook.OAuth2Credential{}) {
		out.OAuth2 = &oauth2JSON{ClientID: c.OAuth2.ClientID, ClientSecret: c.OAuth2.ClientSecret}
	}
	return out
}

// aggregateJSON shows a webhook just changed by a command. The secret is shown only when asked: in
// the create response, and to system licenses.
func aggregateJSON(w *webhook.Webhook, showSecrets, showSecret bool) webhookJSON {
	out := webhookJSON{
		ID: w.ID(), TenantID: w.TenantID(), CommunityID: w.CommunityID(), Disabled: w.Disabled(),
		CreatedBy: w.CreatedBy(), Version: uint64(w.Version() + int64(len(w.Changes()))),
	}
	settingsJSON(&out, w.Settings())
	if showSecrets {
		out.API.Credential = credentialToJSON(w.Settings().API.Credential)
	}
	if showSecret || showSecrets {
		out.Secret = w.Secret()
	}
	return out
}
