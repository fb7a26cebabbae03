package servicekey_test

import (
	"errors"
	"testing"

	"github.com/hookd/hookd/domain/servicekey"
)

func pair(id string) servicekey.Pair {
	return servicekey.Pair{KeyID: id, Type: "secp256k1", PublicKey: "pub-" + id, PrivateKey: "priv-" + id}
}

func TestIssue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		slot    string
		pair    servicekey.Pair
		wantErr bool
	}{
		{"valid", servicekey.PrimarySlot, pair("k1"), false},
		{"slot required", "", pair("k1"), true},
		{"key id required", "primary", func() servicekey.Pair { p := pair("k1"); p.KeyID = ""; return p }(), true},
		{"type required", "primary", func() servicekey.Pair { p := pair("k1"); p.Type = ""; return p }(), true},
		{"public key required", "primary", func() servicekey.Pair { p := pair("k1"); p.PublicKey = ""; return p }(), true},
		{"private key required", "primary", func() servicekey.Pair { p := pair("k1"); p.PrivateKey = ""; return p }(), true},
		{"empty pair", "primary", servicekey.Pair{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := servicekey.Issue(tt.slot, tt.pair)
			if tt.wantErr {
				if err == nil || s != nil {
					t.Fatalf("Issue = %v, %v; want an error", s, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			want := servicekey.Issued{Slot: tt.slot, Pair: tt.pair}
			if got := s.Changes(); len(got) != 1 || got[0] != want {
				t.Errorf("Changes() = %#v, want exactly %#v", got, want)
			}
			if s.Name() != tt.slot || s.Pair() != tt.pair || s.Version() != -1 {
				t.Errorf("state: name %q pair %+v version %d", s.Name(), s.Pair(), s.Version())
			}
		})
	}
}

// errAny stands for any error that is not a named sentinel.
var errAny = errors.New("any error")

func TestReset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		keyID   string
		next    servicekey.Pair
		wantErr error // nil: success; errAny: some error other than ErrUnknownKey
	}{
		{"replaces the present key", "k1", pair("k2"), nil},
		{"wrong key id", "k0", pair("k2"), servicekey.ErrUnknownKey},
		{"empty key id", "", pair("k2"), servicekey.ErrUnknownKey},
		{"invalid next pair", "k1", servicekey.Pair{KeyID: "k2"}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := servicekey.Issue("primary", pair("k1"))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Reset(tt.keyID, tt.next)
			switch {
			case tt.wantErr == nil:
				if err != nil {
					t.Fatalf("Reset: %v", err)
				}
				want := servicekey.Reset{Slot: "primary", PreviousKeyID: "k1", Pair: tt.next}
				if got := s.Changes(); len(got) != 2 || got[1] != want {
					t.Errorf("Changes() = %#v, want Issued then %#v", got, want)
				}
				if s.Pair() != tt.next {
					t.Errorf("Pair() = %+v, want %+v", s.Pair(), tt.next)
				}
			case tt.wantErr == errAny:
				if err == nil || errors.Is(err, servicekey.ErrUnknownKey) {
					t.Errorf("Reset = %v, want a validation error", err)
				}
			default:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Reset = %v, want %v", err, tt.wantErr)
				}
			}
			if tt.wantErr != nil {
				if len(s.Changes()) != 1 || s.Pair() != pair("k1") {
					t.Errorf("a refused Reset changed the slot: pair %+v changes %#v", s.Pair(), s.Changes())
				}
			}
		})
	}
}

func TestResetTwiceNeedsTheNewKeyID(t *testing.T) {
	t.Parallel()
	s, err := servicekey.Issue("primary", pair("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reset("k1", pair("k2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset("k1", pair("k3")); !errors.Is(err, servicekey.ErrUnknownKey) {
		t.Errorf("Reset with the replaced key id = %v, want ErrUnknownKey", err)
	}
	if err := s.Reset("k2", pair("k3")); err != nil {
		t.Fatalf("Reset with the present key id: %v", err)
	}
	if s.Pair() != pair("k3") {
		t.Errorf("Pair() = %+v, want k3", s.Pair())
	}
	if got := s.Changes(); len(got) != 3 || got[2].(servicekey.Reset).PreviousKeyID != "k2" {
		t.Errorf("Changes() = %#v", got)
	}
}

func TestRehydrate(t *testing.T) {
	t.Parallel()
	live, err := servicekey.Issue("primary", pair("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Reset("k1", pair("k2")); err != nil {
		t.Fatal(err)
	}
	s, err := servicekey.Rehydrate(live.Changes(), 1)
	if err != nil {
		t.Fatalf("Rehydrate: %v", err)
	}
	if s.Name() != "primary" || s.Pair() != pair("k2") || s.Version() != 1 || len(s.Changes()) != 0 {
		t.Errorf("rehydrated: name %q pair %+v version %d changes %#v", s.Name(), s.Pair(), s.Version(), s.Changes())
	}
	if err := s.Reset("k1", pair("k3")); !errors.Is(err, servicekey.ErrUnknownKey) {
		t.Errorf("Reset with the old key id after Rehydrate = %v, want ErrUnknownKey", err)
	}
	if err := s.Reset("k2", pair("k3")); err != nil {
		t.Fatalf("Reset after Rehydrate: %v", err)
	}
	want := servicekey.Reset{Slot: "primary", PreviousKeyID: "k2", Pair: pair("k3")}
	if got := s.Changes(); len(got) != 1 || got[0] != want {
		t.Errorf("Changes() = %#v, want only %#v", got, want)
	}
	if s.Version() != 1 {
		t.Errorf("Reset moved the version to %d", s.Version())
	}
}

func TestRehydrateRejects(t *testing.T) {
	t.Parallel()
	for _, h := range [][]servicekey.Event{nil, {}} {
		if s, err := servicekey.Rehydrate(h, -1); !errors.Is(err, servicekey.ErrUnknownKey) || s != nil {
			t.Errorf("Rehydrate(%#v) = %v, %v; want nil, ErrUnknownKey", h, s, err)
		}
	}
	s, err := servicekey.Rehydrate([]servicekey.Event{servicekey.Reset{Slot: "primary", Pair: pair("k2")}}, 0)
	if err == nil || s != nil {
		t.Fatalf("Rehydrate of a history starting with Reset = %v, %v; want an error", s, err)
	}
	if errors.Is(err, servicekey.ErrUnknownKey) {
		t.Errorf("a corrupt history reads as an unknown key: %v", err)
	}
}

func TestSecretFields(t *testing.T) {
	t.Parallel()
	t.Run("Issued", func(t *testing.T) {
		t.Parallel()
		e := servicekey.Issued{Slot: "primary", Pair: pair("k1")}
		fields := e.SecretFields()
		if len(fields) != 1 || *fields[0] != "priv-k1" {
			t.Fatalf("SecretFields() = %v, want the private key only", deref(fields))
		}
		*fields[0] = "sealed"
		if e.Pair.PrivateKey != "sealed" {
			t.Error("writing through SecretFields did not change the event's private key")
		}
		if e.Pair.PublicKey != "pub-k1" || e.Pair.KeyID != "k1" {
			t.Errorf("writing the private key changed other fields: %+v", e.Pair)
		}
	})
	t.Run("Reset", func(t *testing.T) {
		t.Parallel()
		e := servicekey.Reset{Slot: "primary", PreviousKeyID: "k1", Pair: pair("k2")}
		fields := e.SecretFields()
		if len(fields) != 1 || *fields[0] != "priv-k2" {
			t.Fatalf("SecretFields() = %v, want the private key only", deref(fields))
		}
		*fields[0] = "sealed"
		if e.Pair.PrivateKey != "sealed" {
			t.Error("writing through SecretFields did not change the event's private key")
		}
	})
}

func deref(ps []*string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}
