package webhook

import "fmt"

// Criteria says how a webhook's query entries combine: ANY needs one to match, ALL needs every one.
// It is a struct so that no code outside this package can invent a value.
type Criteria struct{ name string }

// The two criteria 1Kosmos defines.
var (
	CriteriaAny = Criteria{"ANY"}
	CriteriaAll = Criteria{"ALL"}
)

// ParseCriteria reads "ANY" or "ALL".
func ParseCriteria(s string) (Criteria, error) {
	switch s {
	case "ANY":
		return CriteriaAny, nil
	case "ALL":
		return CriteriaAll, nil
	}
	return Criteria{}, fmt.Errorf(`criteria %q: must be "ANY" or "ALL"`, s)
}

// IsZero reports whether the criteria was never set.
func (c Criteria) IsZero() bool   { return c.name == "" }
func (c Criteria) String() string { return c.name }

// MarshalText writes the criteria's name.
func (c Criteria) MarshalText() ([]byte, error) { return []byte(c.name), nil }

// UnmarshalText reads a name written by MarshalText.
func (c *Criteria) UnmarshalText(b []byte) error {
	parsed, err := ParseCriteria(string(b))
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}

// AuthType is how a delivery authenticates to its target.
type AuthType struct{ name string }

// The authentication types 1Kosmos defines.
var (
	AuthNone   = AuthType{"none"}
	AuthBasic  = AuthType{"basic"}
	AuthBearer = AuthType{"bearer"}
	AuthAPIKey = AuthType{"api_key"}
	AuthOAuth2 = AuthType{"oauth2"}
)

// ParseAuthType reads one of none, basic, bearer, api_key, oauth2.
func ParseAuthType(s string) (AuthType, error) {
	for _, t := range []AuthType{AuthNone, AuthBasic, AuthBearer, AuthAPIKey, AuthOAuth2} {
		if t.name == s {
			return t, nil
		}
	}
	return AuthType{}, fmt.Errorf("authType %q: must be one of none, basic, bearer, api_key, oauth2", s)
}

// IsZero reports whether the type was never set.
func (a AuthType) IsZero() bool   { return a.name == "" }
func (a AuthType) String() string { return a.name }

// MarshalText writes the type's name.
func (a AuthType) MarshalText() ([]byte, error) { return []byte(a.name), nil }

// UnmarshalText reads a name written by MarshalText.
func (a *AuthType) UnmarshalText(b []byte) error {
	parsed, err := ParseAuthType(string(b))
	if err != nil {
		return err
	}
	*a = parsed
	return nil
}
