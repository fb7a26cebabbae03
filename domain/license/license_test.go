package license_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain/license"
)

// hash is a well-formed key hash: 64 lowercase hex digits.
var hash = strings.Repeat("ab", 32)

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    license.Level
		wantErr bool
	}{
		{"system", license.LevelSystem, false},
		{"service", license.LevelService, false},
		{"service_ext", license.LevelServiceExt, false},
		{"", license.Level{}, true},
		{"System", license.Level{}, true},
		{"SERVICE", license.Level{}, true},
		{" service", license.Level{}, true},
		{"service-ext", license.Level{}, true},
		{"admin", license.Level{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := license.ParseLevel(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseLevel(%q) error = %v, want error %t", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseLevel(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if !tt.wantErr && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
			if tt.wantErr && !got.IsZero() {
				t.Errorf("ParseLevel(%q) returned a non-zero level with its error", tt.in)
			}
		})
	}
}

func TestLevelJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, l := range []license.Level{license.LevelSystem, license.LevelService, license.LevelServiceExt} {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatalf("marshal %v: %v", l, err)
		}
		if want := `"` + l.String() + `"`; string(b) != want {
			t.Errorf("marshal %v = %s, want %s", l, b, want)
		}
		var got license.Level
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if got != l {
			t.Errorf("round trip of %v gave %v", l, got)
		}
	}
	var l license.Level
	if err := json.Unmarshal([]byte(`"root"`), &l); err == nil {
		t.Errorf(`unmarshal "root" gave %v, want an error`, l)
	}
}

func TestScopeCovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		scope             license.Scope
		tenant, community string
		want              bool
	}{
		{"empty scope covers anything", license.Scope{}, "t1", "c1", true},
		{"empty scope covers empty ids", license.Scope{}, "", "", true},
		{"tenant scope covers its tenant", license.Scope{TenantID: "t1"}, "t1", "c1", true},
		{"tenant scope covers every community of its tenant", license.Scope{TenantID: "t1"}, "t1", "c2", true},
		{"tenant scope excludes another tenant", license.Scope{TenantID: "t1"}, "t2", "c1", false},
		{"tenant scope excludes empty tenant", license.Scope{TenantID: "t1"}, "", "c1", false},
		{"tenant scope is case sensitive", license.Scope{TenantID: "t1"}, "T1", "c1", false},
		{"community scope covers itself", license.Scope{TenantID: "t1", CommunityID: "c1"}, "t1", "c1", true},
		{"community scope excludes another community", license.Scope{TenantID: "t1", CommunityID: "c1"}, "t1", "c2", false},
		{"community scope excludes same community of another tenant", license.Scope{TenantID: "t1", CommunityID: "c1"}, "t2", "c1", false},
		{"community scope excludes empty community", license.Scope{TenantID: "t1", CommunityID: "c1"}, "t1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.scope.Covers(tt.tenant, tt.community); got != tt.want {
				t.Errorf("%+v.Covers(%q, %q) = %t, want %t", tt.scope, tt.tenant, tt.community, got, tt.want)
			}
		})
	}
}

func TestIssue(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("t", 128)
	tests := []struct {
		name    string
		id      string
		hash    string
		level   license.Level
		scope   license.Scope
		wantErr string // a part of the message; empty when Issue must succeed
	}{
		{"unscoped system", "l1", hash, license.LevelSystem, license.Scope{}, ""},
		{"tenant scope", "l1", hash, license.LevelService, license.Scope{TenantID: "t-1_a.b"}, ""},
		{"tenant and community", "l1", hash, license.LevelServiceExt, license.Scope{TenantID: "t1", CommunityID: "c1"}, ""},
		{"ids of 128 characters", "l1", hash, license.LevelService, license.Scope{TenantID: long, CommunityID: long}, ""},
		{"hex digits 0-9a-f", "l1", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", license.LevelService, license.Scope{}, ""},

		{"id required", "", hash, license.LevelSystem, license.Scope{}, "id"},
		{"hash empty", "l1", "", license.LevelSystem, license.Scope{}, "hash"},
		{"hash too short", "l1", hash[:63], license.LevelSystem, license.Scope{}, "hash"},
		{"hash too long", "l1", hash + "a", license.LevelSystem, license.Scope{}, "hash"},
		{"hash uppercase", "l1", strings.ToUpper(hash), license.LevelSystem, license.Scope{}, "hash"},
		{"hash not hex", "l1", strings.Repeat("g", 64), license.LevelSystem, license.Scope{}, "hash"},
		{"hash with newline", "l1", hash + "\n", license.LevelSystem, license.Scope{}, "hash"},
		{"level required", "l1", hash, license.Level{}, license.Scope{}, "level"},
		{"community needs a tenant", "l1", hash, license.LevelService, license.Scope{CommunityID: "c1"}, "needs a tenant"},
		{"tenant with space", "l1", hash, license.LevelService, license.Scope{TenantID: "t 1"}, "tenant"},
		{"tenant with slash", "l1", hash, license.LevelService, license.Scope{TenantID: "t/1"}, "tenant"},
		{"tenant too long", "l1", hash, license.LevelService, license.Scope{TenantID: long + "t"}, "tenant"},
		{"community bad pattern", "l1", hash, license.LevelService, license.Scope{TenantID: "t1", CommunityID: "c:1"}, "community"},
		{"community too long", "l1", hash, license.LevelService, license.Scope{TenantID: "t1", CommunityID: long + "c"}, "community"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := license.Issue(tt.id, tt.hash, "hint", tt.level, tt.scope)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Issue succeeded, want an error about %s", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
				if l != nil {
					t.Error("Issue returned a license with its error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			want := license.Issued{LicenseID: tt.id, KeyHash: tt.hash, KeyHint: "hint", Level: tt.level, Scope: tt.scope}
			if got := l.Changes(); len(got) != 1 || got[0] != want {
				t.Errorf("Changes() = %#v, want exactly %#v", got, want)
			}
			if l.ID() != tt.id || l.KeyHash() != tt.hash || l.Level() != tt.level || l.Scope() != tt.scope || l.Revoked() {
				t.Errorf("state after Issue: id %q hash %q level %v scope %+v revoked %t",
					l.ID(), l.KeyHash(), l.Level(), l.Scope(), l.Revoked())
			}
			if l.Version() != -1 {
				t.Errorf("Version() = %d, want -1 for a new license", l.Version())
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	l, err := license.Issue("l1", hash, "hint", license.LevelService, license.Scope{TenantID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Revoke(); err != nil {
		t.Fatalf("first Revoke: %v", err)
	}
	if !l.Revoked() {
		t.Error("Revoked() = false after Revoke")
	}
	if err := l.Revoke(); !errors.Is(err, license.ErrRevoked) {
		t.Errorf("second Revoke = %v, want ErrRevoked", err)
	}
	changes := l.Changes()
	if len(changes) != 2 {
		t.Fatalf("Changes() has %d events, want Issued and one Revoked: %#v", len(changes), changes)
	}
	if changes[1] != (license.Revoked{LicenseID: "l1"}) {
		t.Errorf("second change = %#v, want Revoked{l1}", changes[1])
	}
}

func TestRehydrate(t *testing.T) {
	t.Parallel()
	issued := license.Issued{LicenseID: "l1", KeyHash: hash, KeyHint: "hint", Level: license.LevelServiceExt,
		Scope: license.Scope{TenantID: "t1", CommunityID: "c1"}}
	tests := []struct {
		name        string
		history     []license.Event
		version     int64
		wantRevoked bool
	}{
		{"issued", []license.Event{issued}, 0, false},
		{"issued and revoked", []license.Event{issued, license.Revoked{LicenseID: "l1"}}, 1, true},
		{"version is the one given", []license.Event{issued}, 17, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := license.Rehydrate(tt.history, tt.version)
			if err != nil {
				t.Fatalf("Rehydrate: %v", err)
			}
			if l.ID() != issued.LicenseID || l.KeyHash() != issued.KeyHash || l.Level() != issued.Level ||
				l.Scope() != issued.Scope || l.Revoked() != tt.wantRevoked {
				t.Errorf("state: id %q hash %q level %v scope %+v revoked %t",
					l.ID(), l.KeyHash(), l.Level(), l.Scope(), l.Revoked())
			}
			if l.Version() != tt.version {
				t.Errorf("Version() = %d, want %d", l.Version(), tt.version)
			}
			if len(l.Changes()) != 0 {
				t.Errorf("a rehydrated license has changes: %#v", l.Changes())
			}
			err = l.Revoke()
			if tt.wantRevoked {
				if !errors.Is(err, license.ErrRevoked) {
					t.Errorf("Revoke on a rehydrated revoked license = %v, want ErrRevoked", err)
				}
				if len(l.Changes()) != 0 {
					t.Errorf("a refused Revoke recorded %#v", l.Changes())
				}
				return
			}
			if err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			if got := l.Changes(); len(got) != 1 || got[0] != (license.Revoked{LicenseID: "l1"}) {
				t.Errorf("Changes() after Revoke = %#v", got)
			}
			if l.Version() != tt.version {
				t.Errorf("Revoke moved the version to %d", l.Version())
			}
		})
	}
}

func TestRehydrateMatchesLiveLicense(t *testing.T) {
	t.Parallel()
	live, err := license.Issue("l1", hash, "hint", license.LevelService, license.Scope{TenantID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Revoke(); err != nil {
		t.Fatal(err)
	}
	re, err := license.Rehydrate(live.Changes(), int64(len(live.Changes())-1))
	if err != nil {
		t.Fatal(err)
	}
	if re.ID() != live.ID() || re.KeyHash() != live.KeyHash() || re.Level() != live.Level() ||
		re.Scope() != live.Scope() || re.Revoked() != live.Revoked() {
		t.Errorf("rehydrated %+v differs from live %+v", re, live)
	}
	if re.Version() != 1 {
		t.Errorf("Version() = %d, want 1", re.Version())
	}
}

func TestRehydrateRejects(t *testing.T) {
	t.Parallel()
	t.Run("empty history", func(t *testing.T) {
		t.Parallel()
		for _, h := range [][]license.Event{nil, {}} {
			if l, err := license.Rehydrate(h, -1); !errors.Is(err, license.ErrNotFound) || l != nil {
				t.Errorf("Rehydrate(%#v) = %v, %v; want nil, ErrNotFound", h, l, err)
			}
		}
	})
	t.Run("history not starting with Issued", func(t *testing.T) {
		t.Parallel()
		l, err := license.Rehydrate([]license.Event{license.Revoked{LicenseID: "l1"}}, 0)
		if err == nil || l != nil {
			t.Fatalf("Rehydrate = %v, %v; want an error", l, err)
		}
		if errors.Is(err, license.ErrNotFound) {
			t.Errorf("a corrupt history reads as not found: %v", err)
		}
	})
}
