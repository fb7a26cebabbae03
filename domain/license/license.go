// Package license is the license aggregate: a key that lets a caller use the management API, with an
// auth level and an optional tenant or tenant-and-community scope. Licenses are issued and revoked as
// events; the key itself is never kept, only its hash.
package license

import (
	"errors"
	"fmt"
	"regexp"
)

// Level is a license's auth level. It is a struct so that no code outside this package can invent one.
type Level struct{ name string }

// The auth levels 1Kosmos defines. System is the operator's level: it alone sees credentials and
// manages service keys.
var (
	LevelSystem     = Level{"system"}
	LevelService    = Level{"service"}
	LevelServiceExt = Level{"service_ext"}
)

// ParseLevel reads system, service or service_ext.
func ParseLevel(s string) (Level, error) {
	for _, l := range []Level{LevelSystem, LevelService, LevelServiceExt} {
		if l.name == s {
			return l, nil
		}
	}
	return Level{}, fmt.Errorf("license level %q: must be system, service or service_ext", s)
}

func (l Level) String() string { return l.name }

// IsZero reports whether the level was never set.
func (l Level) IsZero() bool { return l.name == "" }

// MarshalText writes the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.name), nil }

// UnmarshalText reads a name written by MarshalText.
func (l *Level) UnmarshalText(b []byte) error {
	parsed, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = parsed
	return nil
}

// Scope limits a license to a tenant, or to one community of a tenant. The zero Scope is everything.
type Scope struct {
	TenantID    string `json:"tenantId,omitempty"`
	CommunityID string `json:"communityId,omitempty"`
}

// Covers reports whether the scope includes the tenant and community given.
func (s Scope) Covers(tenantID, communityID string) bool {
	if s.TenantID != "" && s.TenantID != tenantID {
		return false
	}
	return s.CommunityID == "" || s.CommunityID == communityID
}

// Errors a caller tells apart.
var (
	ErrRevoked  = errors.New("license: revoked")
	ErrNotFound = errors.New("license: not found")
)

// The names of the license events in the log.
const (
	EventIssued  = "LicenseIssued"
	EventRevoked = "LicenseRevoked"
)

// StreamPrefix starts the name of every license's stream.
const StreamPrefix = "license-"

// Stream names the stream that holds a license's events.
func Stream(id string) string { return StreamPrefix + id }

// Event is a fact about a license.
type Event interface{ EventName() string }

// Issued records a new license. KeyHash is the hex SHA-256 of the license key: the key is a
// credential and never enters the log.
type Issued struct {
	LicenseID string `json:"licenseId"`
	KeyHash   string `json:"keyHash"`
	KeyHint   string `json:"keyHint"`
	Level     Level  `json:"level"`
	Scope     Scope  `json:"scope"`
}

// Revoked records that the license no longer authenticates anyone.
type Revoked struct {
	LicenseID string `json:"licenseId"`
}

// EventName implements Event.
func (Issued) EventName() string { return EventIssued }

// EventName implements Event.
func (Revoked) EventName() string { return EventRevoked }

// License is an issued license.
type License struct {
	id      string
	keyHash string
	keyHint string
	level   Level
	scope   Scope
	revoked bool

	version int64
	changes []Event
}

var (
	hashPattern    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	scopeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,128}$`)
)

// Issue validates and records a new license. keyHint is a short, harmless part of the key that lets
// an operator recognise it in a listing.
func Issue(id, keyHash, keyHint string, level Level, scope Scope) (*License, error) {
	switch {
	case id == "":
		return nil, errors.New("license: id is required")
	case !hashPattern.MatchString(keyHash):
		return nil, errors.New("license: key hash must be 64 lowercase hex digits")
	case level.IsZero():
		return nil, errors.New("license: level is required")
	case scope.TenantID != "" && !scopeIDPattern.MatchString(scope.TenantID):
		return nil, errors.New("license: tenant must be 1 to 128 letters, digits, '_', '.' or '-'")
	case scope.CommunityID != "" && scope.TenantID == "":
		return nil, errors.New("license: a community scope needs a tenant")
	case scope.CommunityID != "" && !scopeIDPattern.MatchString(scope.CommunityID):
		return nil, errors.New("license: community must be 1 to 128 letters, digits, '_', '.' or '-'")
	}
	l := &License{version: -1}
	l.record(Issued{LicenseID: id, KeyHash: keyHash, KeyHint: keyHint, Level: level, Scope: scope})
	return l, nil
}

// Rehydrate rebuilds a license from its events; version is the revision of the last one. It is not a
// constructor: the events were validated when they were recorded.
func Rehydrate(history []Event, version int64) (*License, error) {
	if len(history) == 0 {
		return nil, ErrNotFound
	}
	if _, ok := history[0].(Issued); !ok {
		return nil, fmt.Errorf("license: history starts with %s, not %s", history[0].EventName(), EventIssued)
	}
	l := &License{}
	for _, e := range history {
		l.apply(e)
	}
	l.version = version
	return l, nil
}

// Revoke ends the license. Revoking a revoked license is an error, so an operator learns that the key
// they named was already dead.
func (l *License) Revoke() error {
	if l.revoked {
		return ErrRevoked
	}
	l.record(Revoked{LicenseID: l.id})
	return nil
}

func (l *License) record(e Event) {
	l.apply(e)
	l.changes = append(l.changes, e)
}

func (l *License) apply(e Event) {
	switch e := e.(type) {
	case Issued:
		l.id, l.keyHash, l.keyHint, l.level, l.scope = e.LicenseID, e.KeyHash, e.KeyHint, e.Level, e.Scope
	case Revoked:
		l.revoked = true
	}
}

// ID returns the license's id.
func (l *License) ID() string { return l.id }

// KeyHash returns the hex SHA-256 of the license key.
func (l *License) KeyHash() string { return l.keyHash }

// Level returns the auth level.
func (l *License) Level() Level { return l.level }

// Scope returns what the license covers.
func (l *License) Scope() Scope { return l.scope }

// Revoked reports whether the license was revoked.
func (l *License) Revoked() bool { return l.revoked }

// Version returns the revision of the last event loaded, -1 for a new license.
func (l *License) Version() int64 { return l.version }

// Changes returns the events recorded since the license was loaded or issued.
func (l *License) Changes() []Event { return l.changes }
