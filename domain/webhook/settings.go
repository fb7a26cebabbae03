package webhook

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
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
	checkHTTPURL(v, "api.url", e.URL, "")
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
		v.check(scope != "" && len(scope) <= MaxScopeLength && printable(scope) && !strings.ContainsFunc(scope, unicode.IsSpace),
			fmt.Sprintf("api.oAuthScopes[%d]", i), "must be 1 to 256 printable characters without spaces")
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
		v.check(printable(c.Token), "api.credential.token", "must not contain control characters (it is sent in a header)")
	case AuthAPIKey:
		required("keyName", c.KeyName)
		required("keyValue", c.KeyValue)
		v.check(c.KeyName == "" || headerNamePattern.MatchString(c.KeyName), "api.credential.keyName",
			"must be a valid HTTP header name")
		v.check(printable(c.KeyValue), "api.credential.keyValue",
			"must not contain control characters (it is sent in a header)")
	case AuthOAuth2:
		v.check(e.OAuthGrantType == GrantClientCredentials, "api.oAuthGrantType",
			`must be "client_credentials" when authType is oauth2`)
		checkHTTPURL(v, "api.oAuthTokenUrl", e.OAuthTokenURL, " when authType is oauth2")
		required("oauth2.clientId", c.OAuth2.ClientID)
		required("oauth2.clientSecret", c.OAuth2.ClientSecret)
	}
	if e.AuthType != AuthOAuth2 {
		v.check(e.OAuthGrantType == "" || e.OAuthGrantType == GrantClientCredentials, "api.oAuthGrantType",
			`must be "client_credentials" when given`)
		if e.OAuthTokenURL != "" {
			checkHTTPURL(v, "api.oAuthTokenUrl", e.OAuthTokenURL, " when given")
		}
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

// printable is the one rule of every free-text field (name, tags, query keys, createdBy, scopes,
// header values): valid UTF-8 without control characters. Such text shows up in listings, logs and
// headers, and read models use control characters as separators.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// checkHTTPURL checks a webhook or token URL: absolute, http or https, no user information, and a
// host that is an IP address or a DNS name. when says when the rule applies, for the message.
func checkHTTPURL(v *validation, field, raw, when string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.Opaque != "" {
		v.add(field, "must be an absolute http or https URL with a host"+when)
		return
	}
	v.check(validHost(u.Hostname()), field, fmt.Sprintf("host %q is neither a valid IP address nor a valid DNS name", u.Hostname()))
}

// Bounds of DNS names (RFC 1035), in bytes of their ASCII form.
const (
	maxHostLength  = 253
	maxLabelLength = 63
)

// validHost reports whether host (from a URL, brackets and port removed) is an IPv6 address without
// a zone, an IPv4 address in dotted decimal, or a DNS name: labels of letters, digits, '-' or '_',
// none empty, with one trailing dot allowed. A name whose last label is a number (all digits, or 0x
// and hex digits) is read as an IPv4 address by browsers and inet_aton, so it must be a valid one in
// dotted decimal: 256.0.0.1, 1.2.3.4.5 and 0x100000000 are refused, as are shortened and octal or hex
// spellings, which resolvers do not agree on.
func validHost(host string) bool {
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		return err == nil && a.Is6() && a.Zone() == ""
	}
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > maxHostLength {
		return false
	}
	labels := strings.Split(name, ".")
	if endsInNumber(labels[len(labels)-1]) {
		a, err := netip.ParseAddr(name)
		return err == nil && a.Is4()
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabelLength || strings.ContainsFunc(l, notInLabel) {
			return false
		}
	}
	return true
}

// endsInNumber is the WHATWG URL standard's test of a host's last label: decimal digits, or 0x
// followed by hex digits.
func endsInNumber(label string) bool {
	if rest, ok := strings.CutPrefix(strings.ToLower(label), "0x"); ok {
		return !strings.ContainsFunc(rest, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) })
	}
	return label != "" && !strings.ContainsFunc(label, func(r rune) bool { return r < '0' || r > '9' })
}

// notInLabel reports the runes a DNS label may not hold. Letters and digits of any script pass, for
// internationalized names, which the HTTP client maps to ASCII.
func notInLabel(r rune) bool {
	return !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '-' || r == '_')
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
