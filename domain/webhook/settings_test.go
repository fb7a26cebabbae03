package webhook_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain/webhook"
)

// validSettings returns fresh settings that break no rule; every call returns new slices.
func validSettings() webhook.Settings {
	return webhook.Settings{
		Name:         "orders",
		EventNames:   []string{"user.created"},
		Tags:         []string{"prod"},
		Query:        []webhook.QueryEntry{{Key: "data.kind", Value: "gold"}},
		API:          webhook.Endpoint{URL: "https://example.com/hook"},
		SuccessCodes: []int{200},
		RetryCodes:   []int{500},
		RetryCount:   1,
		TTL:          3,
	}
}

// problemFields returns the field of every problem err lists, in order; nil when err is nil.
func problemFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *webhook.ValidationError", err, err)
	}
	fields := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		if p.Message == "" {
			t.Errorf("problem on %s has no message", p.Field)
		}
		fields[i] = p.Field
	}
	return fields
}

// checkProblems fails unless err lists exactly the fields want (in any order, with repeats); a nil
// want means err must be nil.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	got := problemFields(t, err)
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("problems on %q, want %q (error: %v)", got, want, err)
	}
}

// setting mutates valid settings into the case under test.
type setting func(*webhook.Settings)

func api(f func(*webhook.Endpoint)) setting { return func(s *webhook.Settings) { f(&s.API) } }

func basic(user, pass string) setting {
	return api(func(e *webhook.Endpoint) {
		e.AuthType = webhook.AuthBasic
		e.Credential = webhook.Credential{Username: user, Password: pass}
	})
}

func bearer(token string) setting {
	return api(func(e *webhook.Endpoint) {
		e.AuthType = webhook.AuthBearer
		e.Credential = webhook.Credential{Token: token}
	})
}

func apiKey(name, value string) setting {
	return api(func(e *webhook.Endpoint) {
		e.AuthType = webhook.AuthAPIKey
		e.Credential = webhook.Credential{KeyName: name, KeyValue: value}
	})
}

func oauth2(grant, tokenURL, clientID, clientSecret string) setting {
	return api(func(e *webhook.Endpoint) {
		e.AuthType = webhook.AuthOAuth2
		e.OAuthGrantType = grant
		e.OAuthTokenURL = tokenURL
		e.Credential = webhook.Credential{OAuth2: webhook.OAuth2Credential{ClientID: clientID, ClientSecret: clientSecret}}
	})
}

func endpointURL(u string) setting { return api(func(e *webhook.Endpoint) { e.URL = u }) }

const tokenURL = "https://auth.example.com/oauth/token"

type validationCase struct {
	name   string
	mutate setting
	want   []string // fields with a problem; nil: valid
}

func runValidation(t *testing.T, cases []validationCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := validSettings()
			tt.mutate(&s)
			checkProblems(t, s.Normalized().Validate(), tt.want)
		})
	}
}

func TestValidateAuthType(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", webhook.MaxCredentialLength)
	runValidation(t, []validationCase{
		{"none needs nothing", api(func(e *webhook.Endpoint) { e.AuthType = webhook.AuthNone }), nil},
		{"zero authType defaults to none", api(func(e *webhook.Endpoint) { e.AuthType = webhook.AuthType{} }), nil},

		{"basic with username and password", basic("alice", "s3cret"), nil},
		{"basic password may contain ':'", basic("alice", "a:b"), nil},
		{"basic without username", basic("", "s3cret"), []string{"api.credential.username"}},
		{"basic without password", basic("alice", ""), []string{"api.credential.password"}},
		{"basic without either", basic("", ""), []string{"api.credential.username", "api.credential.password"}},
		{"basic username with ':'", basic("al:ice", "s3cret"), []string{"api.credential.username"}},
		{"basic username only ':'", basic(":", "s3cret"), []string{"api.credential.username"}},

		{"bearer with token", bearer("tok"), nil},
		{"bearer without token", bearer(""), []string{"api.credential.token"}},

		{"api_key with name and value", apiKey("X-Api-Key", "v"), nil},
		{"api_key with every token character", apiKey("!#$%&'*+-.^_`|~09azAZ", "v"), nil},
		{"api_key without name", apiKey("", "v"), []string{"api.credential.keyName"}},
		{"api_key without value", apiKey("X-Api-Key", ""), []string{"api.credential.keyValue"}},
		{"api_key without either", apiKey("", ""), []string{"api.credential.keyName", "api.credential.keyValue"}},
		{"api_key name with space", apiKey("X Api", "v"), []string{"api.credential.keyName"}},
		{"api_key name with ':'", apiKey("X-Api:", "v"), []string{"api.credential.keyName"}},
		{"api_key name with newline", apiKey("X\nInjected", "v"), []string{"api.credential.keyName"}},
		{"api_key name non-ASCII", apiKey("X-Äpi", "v"), []string{"api.credential.keyName"}},
		{"api_key value with CRLF", apiKey("X-Api-Key", "v\r\nX-Evil: 1"), []string{"api.credential.keyValue"}},
		{"api_key value with NUL", apiKey("X-Api-Key", "v\x00"), []string{"api.credential.keyValue"}},
		{"api_key value with ESC", apiKey("X-Api-Key", "v\x1b[31m"), []string{"api.credential.keyValue"}},
		{"bearer token with CRLF", bearer("t\r\nX-Evil: 1"), []string{"api.credential.token"}},
		{"bearer token with NUL", bearer("t\x00"), []string{"api.credential.token"}},

		{"oauth2 complete", oauth2(webhook.GrantClientCredentials, tokenURL, "id", "secret"), nil},
		{"oauth2 with scopes", func(s *webhook.Settings) {
			oauth2(webhook.GrantClientCredentials, tokenURL, "id", "secret")(s)
			s.API.OAuthScopes = []string{"read", "write:all"}
		}, nil},
		{"oauth2 without grant", oauth2("", tokenURL, "id", "secret"), []string{"api.oAuthGrantType"}},
		{"oauth2 with another grant", oauth2("password", tokenURL, "id", "secret"), []string{"api.oAuthGrantType"}},
		{"oauth2 without token url", oauth2(webhook.GrantClientCredentials, "", "id", "secret"), []string{"api.oAuthTokenUrl"}},
		{"oauth2 relative token url", oauth2(webhook.GrantClientCredentials, "/oauth/token", "id", "secret"), []string{"api.oAuthTokenUrl"}},
		{"oauth2 ftp token url", oauth2(webhook.GrantClientCredentials, "ftp://auth.example.com/t", "id", "secret"), []string{"api.oAuthTokenUrl"}},
		{"oauth2 token url with userinfo", oauth2(webhook.GrantClientCredentials, "https://u:p@auth.example.com/t", "id", "secret"), []string{"api.oAuthTokenUrl"}},
		{"oauth2 without client id", oauth2(webhook.GrantClientCredentials, tokenURL, "", "secret"), []string{"api.credential.oauth2.clientId"}},
		{"oauth2 without client secret", oauth2(webhook.GrantClientCredentials, tokenURL, "id", ""), []string{"api.credential.oauth2.clientSecret"}},
		{"oauth2 with nothing", oauth2("", "", "", ""), []string{
			"api.oAuthGrantType", "api.oAuthTokenUrl", "api.credential.oauth2.clientId", "api.credential.oauth2.clientSecret"}},

		{"oauth fields given with another authType are checked: bad grant", func(s *webhook.Settings) {
			bearer("tok")(s)
			s.API.OAuthGrantType = "implicit"
		}, []string{"api.oAuthGrantType"}},
		{"oauth fields given with another authType are checked: bad token url", func(s *webhook.Settings) {
			bearer("tok")(s)
			s.API.OAuthTokenURL = "not a url"
		}, []string{"api.oAuthTokenUrl"}},
		{"oauth fields given with another authType may be valid", func(s *webhook.Settings) {
			bearer("tok")(s)
			s.API.OAuthGrantType = webhook.GrantClientCredentials
			s.API.OAuthTokenURL = tokenURL
		}, nil},

		{"scope empty", api(func(e *webhook.Endpoint) { e.OAuthScopes = []string{"read", ""} }), []string{"api.oAuthScopes[1]"}},
		{"scope with space", api(func(e *webhook.Endpoint) { e.OAuthScopes = []string{"read write"} }), []string{"api.oAuthScopes[0]"}},
		{"scope with tab", api(func(e *webhook.Endpoint) { e.OAuthScopes = []string{"read\twrite"} }), []string{"api.oAuthScopes[0]"}},
		{"scope with NUL", api(func(e *webhook.Endpoint) { e.OAuthScopes = []string{"read\x00"} }), []string{"api.oAuthScopes[0]"}},
		{"scope with DEL", api(func(e *webhook.Endpoint) { e.OAuthScopes = []string{"read\x7f"} }), []string{"api.oAuthScopes[0]"}},
		{"scope at the length bound", api(func(e *webhook.Endpoint) { e.OAuthScopes = []string{strings.Repeat("s", webhook.MaxScopeLength)} }), nil},
		{"scope too long", api(func(e *webhook.Endpoint) { e.OAuthScopes = []string{strings.Repeat("s", webhook.MaxScopeLength+1)} }), []string{"api.oAuthScopes[0]"}},
		{"scopes at the count bound", api(func(e *webhook.Endpoint) { e.OAuthScopes = repeat("s", webhook.MaxScopes) }), nil},
		{"too many scopes", api(func(e *webhook.Endpoint) { e.OAuthScopes = repeat("s", webhook.MaxScopes+1) }), []string{"api.oAuthScopes"}},

		{"credential at the length bound", bearer(long), nil},
		{"token too long", bearer(long + "x"), []string{"api.credential.token"}},
		{"password too long", basic("alice", long+"x"), []string{"api.credential.password"}},
		{"basic credential too long", basic(long+"x", long+"x"), []string{"api.credential.username", "api.credential.password"}},
		{"api_key credential too long", api(func(e *webhook.Endpoint) {
			e.AuthType = webhook.AuthAPIKey
			e.Credential = webhook.Credential{KeyName: long + "x", KeyValue: long + "x"}
		}), []string{"api.credential.keyName", "api.credential.keyValue"}},
		{"oauth2 credential too long", oauth2(webhook.GrantClientCredentials, tokenURL, long+"x", long+"x"),
			[]string{"api.credential.oauth2.clientId", "api.credential.oauth2.clientSecret"}},
		// A credential the auth type does not use is dropped, not kept and not checked.
		{"unused credential too long", api(func(e *webhook.Endpoint) {
			l := long + "x"
			e.Credential = webhook.Credential{Username: l, Password: l, KeyName: l, KeyValue: l, Token: l,
				OAuth2: webhook.OAuth2Credential{ClientID: l, ClientSecret: l}}
		}), nil},
	})
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestValidateURL(t *testing.T) {
	t.Parallel()
	base := "https://example.com/"
	atBound := base + strings.Repeat("a", webhook.MaxURLLength-len(base))
	runValidation(t, []validationCase{
		{"https", endpointURL("https://example.com/hook"), nil},
		{"http", endpointURL("http://example.com"), nil},
		{"port, query and fragment", endpointURL("https://example.com:8443/a/b?c=d#e"), nil},
		{"IPv4 host", endpointURL("http://127.0.0.1:9000/hook"), nil},
		{"IPv6 host", endpointURL("https://[::1]:8443/hook"), nil},
		{"upper-case scheme", endpointURL("HTTPS://EXAMPLE.COM/hook"), nil},
		{"at the length bound", endpointURL(atBound), nil},

		{"empty", endpointURL(""), []string{"api.url"}},
		{"relative path", endpointURL("/hook"), []string{"api.url"}},
		{"no scheme", endpointURL("example.com/hook"), []string{"api.url"}},
		{"scheme-relative", endpointURL("//example.com/hook"), []string{"api.url"}},
		{"ftp", endpointURL("ftp://example.com/hook"), []string{"api.url"}},
		{"ws", endpointURL("ws://example.com/hook"), []string{"api.url"}},
		{"javascript", endpointURL("javascript:alert(1)"), []string{"api.url"}},
		{"mailto", endpointURL("mailto:ops@example.com"), []string{"api.url"}},
		{"no host", endpointURL("http://"), []string{"api.url"}},
		{"empty host with path", endpointURL("https:///x"), []string{"api.url"}},
		{"port without host", endpointURL("http://:8080/x"), []string{"api.url"}},
		{"user and password", endpointURL("https://user:pass@example.com/hook"), []string{"api.url"}},
		{"user only", endpointURL("https://user@example.com/hook"), []string{"api.url"}},
		{"empty userinfo", endpointURL("https://@example.com/hook"), []string{"api.url"}},
		{"host disguised as userinfo", endpointURL("https://example.com@evil.example/hook"), []string{"api.url"}},
		{"opaque", endpointURL("http:example.com/hook"), []string{"api.url"}},
		{"space in host", endpointURL("http://exa mple.com/"), []string{"api.url"}},
		{"control character", endpointURL("http://example.com/\n"), []string{"api.url"}},
		{"leading space", endpointURL(" https://example.com/"), []string{"api.url"}},
		{"too long", endpointURL(atBound + "a"), []string{"api.url"}},
		{"too long and invalid", endpointURL("ftp://example.com/" + strings.Repeat("a", webhook.MaxURLLength)), []string{"api.url", "api.url"}},

		{"host with a trailing dot", endpointURL("https://example.com./hook"), nil},
		{"host with underscore and hyphen", endpointURL("https://my_host-1.example.com/"), nil},
		{"internationalized host", endpointURL("https://bücher.example/"), nil},
		{"IPv4 address at its bounds", endpointURL("http://255.255.255.255/"), nil},
		{"IPv4 with a trailing dot", endpointURL("http://8.8.8.8./"), nil},
		{"IPv4-mapped IPv6", endpointURL("http://[::ffff:8.8.8.8]/"), nil},
		{"host of 63-character labels", endpointURL("https://" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + ".example/"), nil},

		{"IPv4 part over 255", endpointURL("http://256.0.0.1/"), []string{"api.url"}},
		{"IPv4 of five parts", endpointURL("http://1.2.3.4.5/"), []string{"api.url"}},
		{"IPv4 as a hex number over 32 bits", endpointURL("http://0x100000000/"), []string{"api.url"}},
		{"IPv4 as a hex number", endpointURL("http://0x08080808/"), []string{"api.url"}},
		{"IPv4 as one decimal number", endpointURL("http://134744072/"), []string{"api.url"}},
		{"IPv4 shortened", endpointURL("http://8.8/"), []string{"api.url"}},
		{"IPv4 in octal", endpointURL("http://010.8.8.8/"), []string{"api.url"}},
		{"IPv4 with an empty part", endpointURL("http://8..8.8/"), []string{"api.url"}},
		{"numeric last label", endpointURL("http://example.123/"), []string{"api.url"}},
		{"two trailing dots", endpointURL("http://localhost../"), []string{"api.url"}},
		{"empty label", endpointURL("http://example..com/"), []string{"api.url"}},
		{"leading dot", endpointURL("http://.example.com/"), []string{"api.url"}},
		{"only a dot", endpointURL("http://./"), []string{"api.url"}},
		{"label over 63 characters", endpointURL("https://" + strings.Repeat("a", 64) + ".example/"), []string{"api.url"}},
		{"host over 253 characters", endpointURL("https://" + strings.Repeat("a.", 127) + "ab/"), []string{"api.url"}},
		{"host with a percent-encoded slash", endpointURL("http://a%2Fb.example/"), []string{"api.url"}},
		{"IPv6 with a zone", endpointURL("http://[fe80::1%25eth0]/"), []string{"api.url"}},
		{"token URL with an invalid IPv4", oauth2(webhook.GrantClientCredentials, "https://256.0.0.1/token", "id", "secret"), []string{"api.oAuthTokenUrl"}},
		{"token URL with an empty label", api(func(e *webhook.Endpoint) { e.OAuthTokenURL = "https://auth..example/token" }), []string{"api.oAuthTokenUrl"}},

		{"api.type POST", api(func(e *webhook.Endpoint) { e.Type = "POST" }), nil},
		{"api.type empty defaults to POST", api(func(e *webhook.Endpoint) { e.Type = "" }), nil},
		{"api.type GET", api(func(e *webhook.Endpoint) { e.Type = "GET" }), []string{"api.type"}},
		{"api.type lower-case post", api(func(e *webhook.Endpoint) { e.Type = "post" }), []string{"api.type"}},
	})
}

func TestValidateEventsTagsAndQuery(t *testing.T) {
	t.Parallel()
	runValidation(t, []validationCase{
		{"several event names", func(s *webhook.Settings) { s.EventNames = []string{"a", "user.created", "A-b_c.9"} }, nil},
		{"event name at the length bound", func(s *webhook.Settings) { s.EventNames = []string{strings.Repeat("e", webhook.MaxEventNameLength)} }, nil},
		{"event names at the count bound", func(s *webhook.Settings) { s.EventNames = repeat("e", webhook.MaxEventNames) }, nil},
		{"nil event names", func(s *webhook.Settings) { s.EventNames = nil }, []string{"eventNames"}},
		{"empty event names", func(s *webhook.Settings) { s.EventNames = []string{} }, []string{"eventNames"}},
		{"too many event names", func(s *webhook.Settings) { s.EventNames = repeat("e", webhook.MaxEventNames+1) }, []string{"eventNames"}},
		{"empty event name", func(s *webhook.Settings) { s.EventNames = []string{"ok", ""} }, []string{"eventNames[1]"}},
		{"event name with space", func(s *webhook.Settings) { s.EventNames = []string{"user created"} }, []string{"eventNames[0]"}},
		{"event name with slash", func(s *webhook.Settings) { s.EventNames = []string{"user/created"} }, []string{"eventNames[0]"}},
		{"event name with wildcard", func(s *webhook.Settings) { s.EventNames = []string{"user.*"} }, []string{"eventNames[0]"}},
		{"event name non-ASCII", func(s *webhook.Settings) { s.EventNames = []string{"usér"} }, []string{"eventNames[0]"}},
		{"event name too long", func(s *webhook.Settings) { s.EventNames = []string{strings.Repeat("e", webhook.MaxEventNameLength+1)} }, []string{"eventNames[0]"}},
		{"two bad event names", func(s *webhook.Settings) { s.EventNames = []string{"a b", "ok", "c d"} }, []string{"eventNames[0]", "eventNames[2]"}},

		{"nil tags", func(s *webhook.Settings) { s.Tags = nil }, nil},
		{"tags at the count bound", func(s *webhook.Settings) { s.Tags = repeat("t", webhook.MaxTags) }, nil},
		{"tag at the length bound", func(s *webhook.Settings) { s.Tags = []string{strings.Repeat("t", webhook.MaxTagLength)} }, nil},
		{"tag with spaces", func(s *webhook.Settings) { s.Tags = []string{"my tag"} }, nil},
		{"too many tags", func(s *webhook.Settings) { s.Tags = repeat("t", webhook.MaxTags+1) }, []string{"tags"}},
		{"empty tag", func(s *webhook.Settings) { s.Tags = []string{"a", ""} }, []string{"tags[1]"}},
		{"tag too long", func(s *webhook.Settings) { s.Tags = []string{strings.Repeat("t", webhook.MaxTagLength+1)} }, []string{"tags[0]"}},
		{"tag with NUL", func(s *webhook.Settings) { s.Tags = []string{"a\x00"} }, []string{"tags[0]"}},
		{"tag with a line break", func(s *webhook.Settings) { s.Tags = []string{"a\nb"} }, []string{"tags[0]"}},
		{"tag not UTF-8", func(s *webhook.Settings) { s.Tags = []string{"a\xff"} }, []string{"tags[0]"}},
		{"name with CR", func(s *webhook.Settings) { s.Name = "a\rb" }, []string{"name"}},
		{"name with a C1 control", func(s *webhook.Settings) { s.Name = "a\u0085b" }, []string{"name"}},
		{"query key with NUL", query("k\x00", "v"), []string{"query[0]"}},

		{"nil query", func(s *webhook.Settings) { s.Query = nil }, nil},
		{"query string value", query("k", "v"), nil},
		{"query empty string value", query("k", ""), nil},
		{"query number value", query("k", 42.5), nil},
		{"query bool value", query("k", true), nil},
		{"query string at the length bound", query("k", strings.Repeat("v", webhook.MaxQueryValueLength)), nil},
		{"query key at the length bound", query(strings.Repeat("k", webhook.MaxQueryKeyLength), "v"), nil},
		{"query entries at the count bound", func(s *webhook.Settings) { s.Query = entries(webhook.MaxQueryEntries) }, nil},
		{"query string too long", query("k", strings.Repeat("v", webhook.MaxQueryValueLength+1)), []string{"query[0]"}},
		{"query key empty", query("", "v"), []string{"query[0]"}},
		{"query key too long", query(strings.Repeat("k", webhook.MaxQueryKeyLength+1), "v"), []string{"query[0]"}},
		{"query nil value", query("k", nil), []string{"query[0]"}},
		{"query map value", query("k", map[string]any{"a": 1.0}), []string{"query[0]"}},
		{"query slice value", query("k", []any{"a"}), []string{"query[0]"}},
		{"query int value (JSON numbers are float64)", query("k", 1), []string{"query[0]"}},
		{"query empty key and map value", query("", map[string]any{}), []string{"query[0]", "query[0]"}},
		{"too many query entries", func(s *webhook.Settings) { s.Query = entries(webhook.MaxQueryEntries + 1) }, []string{"query"}},
		{"second query entry bad", func(s *webhook.Settings) {
			s.Query = []webhook.QueryEntry{{Key: "a", Value: "x"}, {Key: "b", Value: []string{"y"}}}
		}, []string{"query[1]"}},

		{"criteria ANY", func(s *webhook.Settings) { s.Criteria = webhook.CriteriaAny }, nil},
		{"criteria ALL", func(s *webhook.Settings) { s.Criteria = webhook.CriteriaAll }, nil},
		{"criteria left out defaults", func(s *webhook.Settings) { s.Criteria = webhook.Criteria{} }, nil},
	})
}

func query(key string, value any) setting {
	return func(s *webhook.Settings) { s.Query = []webhook.QueryEntry{{Key: key, Value: value}} }
}

func entries(n int) []webhook.QueryEntry {
	out := make([]webhook.QueryEntry, n)
	for i := range out {
		out[i] = webhook.QueryEntry{Key: "k", Value: float64(i)}
	}
	return out
}

func codes(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

func TestValidateCodesAndLimits(t *testing.T) {
	t.Parallel()
	runValidation(t, []validationCase{
		{"success codes at the range bounds", func(s *webhook.Settings) { s.SuccessCodes = []int{100, 599} }, nil},
		{"success codes at the count bound", func(s *webhook.Settings) { s.SuccessCodes = codes(200, webhook.MaxCodes); s.RetryCodes = nil }, nil},
		{"nil success codes", func(s *webhook.Settings) { s.SuccessCodes = nil }, []string{"successCodes"}},
		{"empty success codes", func(s *webhook.Settings) { s.SuccessCodes = []int{} }, []string{"successCodes"}},
		{"success code 99", func(s *webhook.Settings) { s.SuccessCodes = []int{99} }, []string{"successCodes[0]"}},
		{"success code 600", func(s *webhook.Settings) { s.SuccessCodes = []int{200, 600} }, []string{"successCodes[1]"}},
		{"success code 0", func(s *webhook.Settings) { s.SuccessCodes = []int{0} }, []string{"successCodes[0]"}},
		{"success code negative", func(s *webhook.Settings) { s.SuccessCodes = []int{-200} }, []string{"successCodes[0]"}},
		{"too many success codes", func(s *webhook.Settings) { s.SuccessCodes = codes(200, webhook.MaxCodes+1); s.RetryCodes = nil }, []string{"successCodes"}},

		{"nil retry codes", func(s *webhook.Settings) { s.RetryCodes = nil }, nil},
		{"retry code 0 (no response)", func(s *webhook.Settings) { s.RetryCodes = []int{0} }, nil},
		{"retry codes at the range bounds", func(s *webhook.Settings) { s.RetryCodes = []int{0, 100, 599} }, nil},
		{"retry codes at the count bound", func(s *webhook.Settings) { s.RetryCodes = codes(500, webhook.MaxCodes) }, nil},
		{"retry code 99", func(s *webhook.Settings) { s.RetryCodes = []int{99} }, []string{"retryCodes[0]"}},
		{"retry code 600", func(s *webhook.Settings) { s.RetryCodes = []int{500, 600} }, []string{"retryCodes[1]"}},
		{"retry code negative", func(s *webhook.Settings) { s.RetryCodes = []int{-1} }, []string{"retryCodes[0]"}},
		{"retry code also a success code", func(s *webhook.Settings) { s.SuccessCodes = []int{200, 202}; s.RetryCodes = []int{503, 202} }, []string{"retryCodes"}},
		{"two retry codes also success codes", func(s *webhook.Settings) { s.SuccessCodes = []int{200, 202}; s.RetryCodes = []int{200, 202} }, []string{"retryCodes", "retryCodes"}},
		{"too many retry codes", func(s *webhook.Settings) { s.RetryCodes = codes(500, webhook.MaxCodes+1) }, []string{"retryCodes"}},

		{"retryCount 0", func(s *webhook.Settings) { s.RetryCount = 0 }, nil},
		{"retryCount 2", func(s *webhook.Settings) { s.RetryCount = webhook.MaxRetryCount }, nil},
		{"retryCount -1", func(s *webhook.Settings) { s.RetryCount = -1 }, []string{"retryCount"}},
		{"retryCount 3", func(s *webhook.Settings) { s.RetryCount = webhook.MaxRetryCount + 1 }, []string{"retryCount"}},
		{"ttl 0", func(s *webhook.Settings) { s.TTL = 0 }, nil},
		{"ttl 5", func(s *webhook.Settings) { s.TTL = webhook.MaxTTL }, nil},
		{"ttl -1", func(s *webhook.Settings) { s.TTL = -1 }, []string{"ttl"}},
		{"ttl 6", func(s *webhook.Settings) { s.TTL = webhook.MaxTTL + 1 }, []string{"ttl"}},
		{"rateLimit -1", func(s *webhook.Settings) { s.RateLimit = -1 }, []string{"rateLimit"}},
		{"rateLimit over the bound", func(s *webhook.Settings) { s.RateLimit = webhook.MaxRateLimit + 1 }, []string{"rateLimit"}},

		{"name at the length bound", func(s *webhook.Settings) { s.Name = strings.Repeat("n", webhook.MaxNameLength) }, nil},
		{"name empty", func(s *webhook.Settings) { s.Name = "" }, []string{"name"}},
		{"name blank", func(s *webhook.Settings) { s.Name = " \t\n" }, []string{"name"}},
		{"name too long", func(s *webhook.Settings) { s.Name = strings.Repeat("n", webhook.MaxNameLength+1) }, []string{"name"}},
	})
}

// Validate on settings that were never normalized reports the fields Normalized would default.
func TestValidateWithoutNormalizing(t *testing.T) {
	t.Parallel()
	checkProblems(t, webhook.Settings{}.Validate(), []string{
		"name", "eventNames", "criteria", "api.type", "api.url", "api.authType", "successCodes"})
	checkProblems(t, webhook.Settings{}.Normalized().Validate(), []string{
		"name", "eventNames", "api.url", "successCodes"})
}

func TestValidationErrorMessage(t *testing.T) {
	t.Parallel()
	s := validSettings()
	s.Name = ""
	basic("a:b", "")(&s)
	err := s.Normalized().Validate()
	checkProblems(t, err, []string{"name", "api.credential.username", "api.credential.password"})
	msg := err.Error()
	for _, want := range []string{"name is required", "api.credential.username", "api.credential.password", "; "} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, does not contain %q", msg, want)
		}
	}
}

func TestNormalized(t *testing.T) {
	t.Parallel()
	n := webhook.Settings{}.Normalized()
	if n.Criteria != webhook.CriteriaAny {
		t.Errorf("Criteria = %v, want ANY", n.Criteria)
	}
	if n.API.Type != webhook.EndpointType {
		t.Errorf("API.Type = %q, want POST", n.API.Type)
	}
	if n.API.AuthType != webhook.AuthNone {
		t.Errorf("API.AuthType = %v, want none", n.API.AuthType)
	}
	if n.EventNames == nil || n.Tags == nil || n.Query == nil || n.SuccessCodes == nil || n.RetryCodes == nil {
		t.Errorf("a list stayed nil: %#v", n)
	}

	// Values that were given are kept.
	s := validSettings()
	s.Criteria = webhook.CriteriaAll
	s.API.Type = "GET"
	s.API.AuthType = webhook.AuthBearer
	n = s.Normalized()
	if n.Criteria != webhook.CriteriaAll || n.API.Type != "GET" || n.API.AuthType != webhook.AuthBearer {
		t.Errorf("Normalized changed given values: %#v", n)
	}
}

func TestSettingsEqual(t *testing.T) {
	t.Parallel()
	with := func(f setting) webhook.Settings { s := validSettings(); f(&s); return s }
	tests := []struct {
		name string
		a, b webhook.Settings
		want bool
	}{
		{"same values, different slices", validSettings(), validSettings(), true},
		{"zero settings", webhook.Settings{}, webhook.Settings{}, true},
		{"nil and empty lists", with(func(s *webhook.Settings) {
			s.Tags, s.Query, s.RetryCodes, s.API.OAuthScopes = nil, nil, nil, nil
		}), with(func(s *webhook.Settings) {
			s.Tags, s.Query, s.RetryCodes, s.API.OAuthScopes = []string{}, []webhook.QueryEntry{}, []int{}, []string{}
		}), true},
		{"criteria left out and ANY", with(func(s *webhook.Settings) { s.Criteria = webhook.Criteria{} }),
			with(func(s *webhook.Settings) { s.Criteria = webhook.CriteriaAny }), true},
		{"api.type left out and POST", with(api(func(e *webhook.Endpoint) { e.Type = "" })),
			with(api(func(e *webhook.Endpoint) { e.Type = "POST" })), true},
		{"authType left out and none", with(api(func(e *webhook.Endpoint) { e.AuthType = webhook.AuthType{} })),
			with(api(func(e *webhook.Endpoint) { e.AuthType = webhook.AuthNone })), true},
		{"equal map query values", with(query("k", map[string]any{"a": []any{1.0, "x"}})),
			with(query("k", map[string]any{"a": []any{1.0, "x"}})), true},
		{"different map query values", with(query("k", map[string]any{"a": 1.0})),
			with(query("k", map[string]any{"a": 2.0})), false},
		{"equal slice query values", with(query("k", []any{"x"})), with(query("k", []any{"x"})), true},
		{"map and string query values", with(query("k", map[string]any{})), with(query("k", "v")), false},
		{"string and number query values", with(query("k", "1")), with(query("k", 1.0)), false},
		{"string and bool query values", with(query("k", "true")), with(query("k", true)), false},
		{"equal numbers", with(query("k", 1.5)), with(query("k", 1.5)), true},
		{"different query keys", with(query("a", "v")), with(query("b", "v")), false},
		{"query order", with(func(s *webhook.Settings) { s.Query = entries(2) }),
			with(func(s *webhook.Settings) { s.Query = entries(2); s.Query[0], s.Query[1] = s.Query[1], s.Query[0] }), false},
		{"criteria", validSettings(), with(func(s *webhook.Settings) { s.Criteria = webhook.CriteriaAll }), false},
		{"name", validSettings(), with(func(s *webhook.Settings) { s.Name = "other" }), false},
		{"event names", validSettings(), with(func(s *webhook.Settings) { s.EventNames = []string{"other"} }), false},
		{"event name order", with(func(s *webhook.Settings) { s.EventNames = []string{"a", "b"} }),
			with(func(s *webhook.Settings) { s.EventNames = []string{"b", "a"} }), false},
		{"tags", validSettings(), with(func(s *webhook.Settings) { s.Tags = append(s.Tags, "x") }), false},
		{"url", validSettings(), with(endpointURL("https://example.com/other")), false},
		{"auth type", validSettings(), with(bearer("t")), false},
		{"grant type", validSettings(), with(api(func(e *webhook.Endpoint) { e.OAuthGrantType = "client_credentials" })), false},
		{"token url", validSettings(), with(api(func(e *webhook.Endpoint) { e.OAuthTokenURL = tokenURL })), false},
		{"scopes", validSettings(), with(api(func(e *webhook.Endpoint) { e.OAuthScopes = []string{"read"} })), false},
		{"password only", with(basic("u", "p1")), with(basic("u", "p2")), false},
		{"client secret only", with(oauth2(webhook.GrantClientCredentials, tokenURL, "id", "s1")),
			with(oauth2(webhook.GrantClientCredentials, tokenURL, "id", "s2")), false},
		{"success codes", validSettings(), with(func(s *webhook.Settings) { s.SuccessCodes = []int{201} }), false},
		{"retry codes", validSettings(), with(func(s *webhook.Settings) { s.RetryCodes = []int{0} }), false},
		{"retry count", validSettings(), with(func(s *webhook.Settings) { s.RetryCount = 2 }), false},
		{"ttl", validSettings(), with(func(s *webhook.Settings) { s.TTL = 0 }), false},
		{"rateLimit", validSettings(), with(func(s *webhook.Settings) { s.RateLimit = 7 }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.a.Equal(tt.b); got != tt.want {
				t.Errorf("a.Equal(b) = %t, want %t", got, tt.want)
			}
			if got := tt.b.Equal(tt.a); got != tt.want {
				t.Errorf("b.Equal(a) = %t, want %t", got, tt.want)
			}
			if !tt.a.Equal(tt.a) || !tt.b.Equal(tt.b) {
				t.Error("Equal is not reflexive")
			}
		})
	}
}

// Non-finite numbers pass Validate although JSON, and so the log, cannot hold them, and NaN is not
// equal to itself, so an update with unchanged settings records an event.
func TestValidateQueryRejectsNonFiniteNumbers(t *testing.T) {
	t.Parallel()
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		s := validSettings()
		query("k", v)(&s)
		if err := s.Normalized().Validate(); err == nil {
			t.Errorf("query value %v passes Validate; it cannot be written to the log as JSON", v)
		}
	}
}
