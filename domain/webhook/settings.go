package webhook

import (
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Settings is what an integrator configures on a webhook: which events it wants and where and how they
// are delivered. It is a value: two Settings with the same fields are the same settings.
//
// The JSON names are the log's schema (events carry Settings as they are), so they never change.
type Settings struct {
	Name         string       `json:"name"`
	EventNames   []string     `json:"eventNames"`
	Tags         []string     `json:"tags"`
	Query        []QueryEntry `json:"query"`
	Criteria     Criteria     `json:"criteria"`
	API          Endpoint     `json:"api"`
	SuccessCodes []int        `json:"successCodes"`
	RetryCodes   []int        `json:"retryCodes"`
	RetryCount   int          `json:"retryCount"`
	TTL          int          `json:"ttl"`
	// RateLimit bounds the requests per second deliveries send to the webhook; 0 means no bound.
	// It is hookd's own field, beyond the 1Kosmos model.
	RateLimit int `json:"rateLimit,omitempty"`
}

// QueryEntry is one condition on an event's payload: the value at the dot path Key must equal Value
// (a string, a float64 number or a bool).
type QueryEntry struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// equal compares with reflect because Value is an interface whose dynamic type is checked only by
// Validate: == would panic on a map that slipped in.
func (q QueryEntry) equal(o QueryEntry) bool {
	return q.Key == o.Key && reflect.DeepEqual(q.Value, o.Value)
}

// Endpoint is where and how deliveries are sent.
type Endpoint struct {
	Type           string     `json:"type"`
	URL            string     `json:"url"`
	AuthType       AuthType   `json:"authType"`
	OAuthGrantType string     `json:"oAuthGrantType,omitempty"`
	OAuthTokenURL  string     `json:"oAuthTokenUrl,omitempty"`
	OAuthScopes    []string   `json:"oAuthScopes,omitempty"`
	Credential     Credential `json:"credential"`
}

// Credential holds the secrets a delivery presents to the target. Every field is a secret: the log
// keeps them encrypted (see SecretFields on the events).
type Credential struct {
	Username string           `json:"username,omitempty"`
	Password string           `json:"password,omitempty"`
	KeyName  string           `json:"keyName,omitempty"`
	KeyValue string           `json:"keyValue,omitempty"`
	Token    string           `json:"token,omitempty"`
	OAuth2   OAuth2Credential `json:"oauth2"`
}

// OAuth2Credential is the client of an OAuth 2.0 client-credentials grant.
type OAuth2Credential struct {
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
}

// usedBy keeps only the fields that an auth type presents: a secret that no delivery uses is not
// kept at all, and changing the auth type drops the old type's secrets.
func (c Credential) usedBy(t AuthType) Credential {
	switch t {
	case AuthBasic:
		return Credential{Username: c.Username, Password: c.Password}
	case AuthBearer:
		return Credential{Token: c.Token}
	case AuthAPIKey:
		return Credential{KeyName: c.KeyName, KeyValue: c.KeyValue}
	case AuthOAuth2:
		return Credential{OAuth2: c.OAuth2}
	}
	return Credential{}
}

// IsZero reports whether no credential is set.
func (c Credential) IsZero() bool { return c == Credential{} }

// Fields lists the credential's fields, all secrets, for code that seals or opens them; the order is
// part of no format.
func (c *Credential) Fields() []*string {
	return []*string{&c.Username, &c.Password, &c.KeyName, &c.KeyValue, &c.Token,
		&c.OAuth2.ClientID, &c.OAuth2.ClientSecret}
}

// Bounds on every field, so that no input can grow a webhook without limit.
const (
	MaxNameLength       = 256
	MaxEventNames       = 100
	MaxEventNameLength  = 128
	MaxTags             = 50
	MaxTagLength        = 128
	MaxQueryEntries     = 50
	MaxQueryKeyLength   = 256
	MaxQueryValueLength = 1024
	MaxURLLength        = 2048
	MaxScopes           = 50
	MaxScopeLength      = 256
	MaxCredentialLength = 4096
	MaxCodes            = 50
	MaxRetryCount       = 2
	MaxTTL              = 5
	MaxRateLimit        = 10_000
)

// EndpointType is the only delivery method 1Kosmos defines.
const EndpointType = "POST"

// GrantClientCredentials is the only OAuth 2.0 grant a delivery can use.
const GrantClientCredentials = "client_credentials"

var (
	eventNamePattern  = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,128}$`)
	headerNamePattern = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
)

// ValidEventName reports whether name can name an event: 1 to 128 letters, digits, '_', '.' or '-'.
func ValidEventName(name string) bool { return eventNamePattern.MatchString(name) }

// Clone returns a deep copy, so that a webhook never shares its lists with the code that gave or
// asked for its settings.
func (s Settings) Clone() Settings {
	s.EventNames = slices.Clone(s.EventNames)
	s.Tags = slices.Clone(s.Tags)
	s.Query = slices.Clone(s.Query)
	s.SuccessCodes = slices.Clone(s.SuccessCodes)
	s.RetryCodes = slices.Clone(s.RetryCodes)
	s.API.OAuthScopes = slices.Clone(s.API.OAuthScopes)
	return s
}

// Normalized fills in the defaults 1Kosmos documents for fields left out: criteria ANY, api.type POST,
// and empty lists rather than missing ones.
func (s Settings) Normalized() Settings {
	if s.Criteria.IsZero() {
		s.Criteria = CriteriaAny
	}
	if s.API.Type == "" {
		s.API.Type = EndpointType
	}
	if s.API.AuthType.IsZero() {
		s.API.AuthType = AuthNone
	}
	s.API.Credential = s.API.Credential.usedBy(s.API.AuthType)
	s.EventNames = nonNil(s.EventNames)
	s.Tags = nonNil(s.Tags)
	s.Query = nonNil(s.Query)
	s.SuccessCodes = nonNil(s.SuccessCodes)
	s.RetryCodes = nonNil(s.RetryCodes)
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Validate checks every rule on the settings and reports all the problems it finds at once.
func (s Settings) Validate() error {
	var v validation
	v.check(strings.TrimSpace(s.Name) != "", "name", "is required")
	v.check(strings.TrimSpace(s.Name) == "" || printable(s.Name), "name", "must not contain control characters")
	v.check(len(s.Name) <= MaxNameLength, "name", fmt.Sprintf("must be at most %d characters", MaxNameLength))

	v.check(len(s.EventNames) > 0, "eventNames", "must name at least one event")
	v.check(len(s.EventNames) <= MaxEventNames, "eventNames", fmt.Sprintf("must name at most %d events", MaxEventNames))
	for i, name := range bounded(s.EventNames, MaxEventNames) {
		v.check(ValidEventName(name), fmt.Sprintf("eventNames[%d]", i),
			"must be 1 to 128 letters, digits, '_', '.' or '-'")
	}

	v.check(len(s.Tags) <= MaxTags, "tags", fmt.Sprintf("must have at most %d tags", MaxTags))
	for i, tag := range bounded(s.Tags, MaxTags) {
		v.check(tag != "" && len(tag) <= MaxTagLength && printable(tag), fmt.Sprintf("tags[%d]", i),
			fmt.Sprintf("must be 1 to %d characters without control characters", MaxTagLength))
	}

	v.check(len(s.Query) <= MaxQueryEntries, "query", fmt.Sprintf("must have at most %d entries", MaxQueryEntries))
	for i, q := range bounded(s.Query, MaxQueryEntries) {
		field := fmt.Sprintf("query[%d]", i)
		v.check(q.Key != "" && len(q.Key) <= MaxQueryKeyLength && printable(q.Key), field,
			fmt.Sprintf("key must be 1 to %d characters without control characters", MaxQueryKeyLength))
		switch value := q.Value.(type) {
		case string:
			v.check(len(value) <= MaxQueryValueLength, field,
				fmt.Sprintf("value must be at most %d characters", MaxQueryValueLength))
		case float64:
			v.check(!math.IsNaN(value) && !math.IsInf(value, 0), field, "value must be a finite number")
		case bool:
		default:
			v.add(field, "value must be a string, a number or a boolean")
		}
	}

	v.check(!s.Criteria.IsZero(), "criteria", `must be "ANY" or "ALL"`)
	s.API.validate(&v)

	v.check(len(s.SuccessCodes) > 0, "successCodes", "must have at least one status code")
	v.check(len(s.SuccessCodes) <= MaxCodes, "successCodes", fmt.Sprintf("must have at most %d codes", MaxCodes))
	for i, code := range bounded(s.SuccessCodes, MaxCodes) {
		v.check(code >= 100 && code <= 599, fmt.Sprintf("successCodes[%d]", i), "must be an HTTP status from 100 to 599")
	}
	v.check(len(s.RetryCodes) <= MaxCodes, "retryCodes", fmt.Sprintf("must have at most %d codes", MaxCodes))
	for i, code := range bounded(s.RetryCodes, MaxCodes) {
		v.check(code == 0 || (code >= 100 && code <= 599), fmt.Sprintf("retryCodes[%d]", i),
			"must be 0 (no response) or an HTTP status from 100 to 599")
	}
	for _, code := range bounded(s.RetryCodes, MaxCodes) {
		if code != 0 && slices.Contains(s.SuccessCodes, code) {
			v.add("retryCodes", fmt.Sprintf("%d is also a success code", code))
		}
	}
	v.check(s.RetryCount >= 0 && s.RetryCount <= MaxRetryCount, "retryCount", fmt.Sprintf("must be from 0 to %d", MaxRetryCount))
	v.check(s.TTL >= 0 && s.TTL <= MaxTTL, "ttl", fmt.Sprintf("must be from 0 to %d seconds", MaxTTL))
	v.check(s.RateLimit >= 0 && s.RateLimit <= MaxRateLimit, "rateLimit",
		fmt.Sprintf("must be from 0 (no limit) to %d requests per second", MaxRateLimit))
	return v.err()
}

func (e Endpoint) validate(v *validation) {
	v.check(e.Type == EndpointType, "api.type", `must be "POST"`)
	v.check(len(e.URL) <= MaxURLLength, "api.url", fmt.Sprintf("must be at most %d characters", MaxURLLength))
	v.check(validHTTPURL(e.URL), "api.url", "must be an absolute http or https URL with a host")
	v.check(!e.AuthType.IsZero(), "api.authType", "must be one of none, basic, bearer, api_key, oauth2")

	c := e.Credential
	for _, f := range []struct {
		name, value string
	}{
		{"username", c.Username}, {"password", c.Password}, {"keyName", c.KeyName}, {"keyValue", c.KeyValue},
		{"token", c.Token}, {"oauth2.clientId", c.OAuth2.ClientID}, {"oauth2.clientSecret", c.OAuth2.ClientSecret},
	} {
		v.check(len(f.value) <= MaxCredentialLength, "api.credential."+f.name,
			fmt.Sprintf("must be at most %d characters", MaxCredentialLength))
	}
	v.check(len(e.OAuthScopes) <= MaxScopes, "api.oAuthScopes", fmt.Sprintf("must have at most %d scopes", MaxScopes))
	for i, scope := range bounded(e.OAuthScopes, MaxScopes) {
		v.check(scope != "" && len(scope) <= MaxScopeLength && !strings.ContainsAny(scope, " \t\r\n"),
			fmt.Sprintf("api.oAuthScopes[%d]", i), "must be 1 to 256 characters without spaces")
	}

	required := func(field, value string) {
		v.check(value != "", "api.credential."+field, "is required when authType is "+e.AuthType.String())
	}
	switch e.AuthType {
	case AuthBasic:
		required("username", c.Username)
		required("password", c.Password)
		v.check(!strings.Contains(c.Username, ":"), "api.credential.username", "must not contain ':' (basic auth)")
	case AuthBearer:
		required("token", c.Token)
	case AuthAPIKey:
		required("keyName", c.KeyName)
		required("keyValue", c.KeyValue)
		v.check(c.KeyName == "" || headerNamePattern.MatchString(c.KeyName), "api.credential.keyName",
			"must be a valid HTTP header name")
		v.check(!strings.ContainsAny(c.KeyValue, "\r\n\x00"), "api.credential.keyValue",
			"must not contain line breaks")
	case AuthOAuth2:
		v.check(e.OAuthGrantType == GrantClientCredentials, "api.oAuthGrantType",
			`must be "client_credentials" when authType is oauth2`)
		v.check(validHTTPURL(e.OAuthTokenURL), "api.oAuthTokenUrl",
			"must be an absolute http or https URL with a host when authType is oauth2")
		required("oauth2.clientId", c.OAuth2.ClientID)
		required("oauth2.clientSecret", c.OAuth2.ClientSecret)
	}
	if e.AuthType != AuthOAuth2 {
		v.check(e.OAuthGrantType == "" || e.OAuthGrantType == GrantClientCredentials, "api.oAuthGrantType",
			`must be "client_credentials" when given`)
		v.check(e.OAuthTokenURL == "" || validHTTPURL(e.OAuthTokenURL), "api.oAuthTokenUrl",
			"must be an absolute http or https URL with a host when given")
	}
}

// bounded returns the items whose rules are worth checking one by one: none of a list that is over
// its limit already, which is reported once, so that a huge list cannot make a huge answer.
func bounded[T any](items []T, limit int) []T {
	if len(items) > limit {
		return nil
	}
	return items
}

// printable reports whether s has no control characters: names and tags show up in listings and
// logs, and read models use control characters as separators.
func printable(s string) bool {
	return !strings.ContainsFunc(s, unicode.IsControl)
}

func validHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return false
	}
	return u.User == nil && u.Opaque == ""
}

// Equal reports whether two settings are the same value.
func (s Settings) Equal(o Settings) bool {
	s, o = s.Normalized(), o.Normalized()
	return s.Name == o.Name &&
		slices.Equal(s.EventNames, o.EventNames) &&
		slices.Equal(s.Tags, o.Tags) &&
		slices.EqualFunc(s.Query, o.Query, QueryEntry.equal) &&
		s.Criteria == o.Criteria &&
		s.API.equal(o.API) &&
		slices.Equal(s.SuccessCodes, o.SuccessCodes) &&
		slices.Equal(s.RetryCodes, o.RetryCodes) &&
		s.RetryCount == o.RetryCount &&
		s.TTL == o.TTL &&
		s.RateLimit == o.RateLimit
}

func (e Endpoint) equal(o Endpoint) bool {
	return e.Type == o.Type && e.URL == o.URL && e.AuthType == o.AuthType &&
		e.OAuthGrantType == o.OAuthGrantType && e.OAuthTokenURL == o.OAuthTokenURL &&
		slices.Equal(e.OAuthScopes, o.OAuthScopes) && e.Credential == o.Credential
}
