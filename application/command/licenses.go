package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/application/eventcodec"
	"github.com/hookd/hookd/domain/eventlog"
	"github.com/hookd/hookd/domain/license"
)

// Licenses holds the commands on licenses.
type Licenses struct {
	streams streams
	random  io.Reader
}

// NewLicenses returns the license commands; random is where new license keys come from.
func NewLicenses(log EventLog, codec *eventcodec.Codec, clock func() time.Time, random io.Reader) (*Licenses, error) {
	s, err := newStreams(log, codec, clock)
	if err != nil {
		return nil, err
	}
	if random == nil {
		return nil, errors.New("command: a source of randomness is required")
	}
	return &Licenses{streams: s, random: random}, nil
}

// KeyHash is how a license key is kept and looked up: hex SHA-256. The key itself is a credential.
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// licenseIDSpace is the UUIDv5 namespace of license ids.
var licenseIDSpace = uuid.MustParse("0b8e6a42-93c1-4d5e-8f0a-7c2b1e4d9a63")

// licenseID derives a license's id from its key, so that issuing the same key twice finds the first
// license instead of making a second.
func licenseID(keyHash string) string {
	return uuid.NewSHA1(licenseIDSpace, []byte(keyHash)).String()
}

const (
	keyPrefix    = "lic_"
	keyBytes     = 16
	minKeyLength = 16
	maxKeyLength = 256
)

// NewLicenseKey makes a license key: "lic_" and 128 random bits in hex.
func NewLicenseKey(random io.Reader) (string, error) {
	raw := make([]byte, keyBytes)
	if _, err := io.ReadFull(random, raw); err != nil {
		return "", fmt.Errorf("command: generating a license key: %w", err)
	}
	return keyPrefix + hex.EncodeToString(raw), nil
}

// IssueLicense makes a new license.
type IssueLicense struct {
	Level license.Level
	Scope license.Scope
	// Key is the license key to issue; empty means generate one. A key given must be 16 to 256
	// characters.
	Key string
}

// Issued is a license just issued, with its key: the only time the key is shown.
type Issued struct {
	LicenseID string
	Key       string
	Existed   bool
	Result    Result
}

// Issue records a new license. A key that was issued before is not issued again: Existed says so, and
// the first license stands.
func (h *Licenses) Issue(ctx context.Context, cmd IssueLicense, caller Caller) (Issued, error) {
	key := cmd.Key
	if key == "" {
		var err error
		if key, err = NewLicenseKey(h.random); err != nil {
			return Issued{}, err
		}
	}
	if len(key) < minKeyLength || len(key) > maxKeyLength {
		return Issued{}, fmt.Errorf("command: a license key must be %d to %d characters", minKeyLength, maxKeyLength)
	}
	hash := KeyHash(key)
	id := licenseID(hash)
	l, err := license.Issue(id, hash, keyHint(key), cmd.Level, cmd.Scope)
	if err != nil {
		return Issued{}, err
	}
	res, err := h.streams.save(ctx, license.Stream(id), l.Version(), asEvents(l.Changes()), caller)
	if errors.Is(err, eventlog.ErrWrongExpectedVersion) {
		return Issued{LicenseID: id, Key: key, Existed: true}, nil
	}
	if err != nil {
		return Issued{}, err
	}
	return Issued{LicenseID: id, Key: key, Result: res}, nil
}

// keyHint keeps the last four characters of a key, enough to recognise it in a list and too few to
// help anyone guess it.
func keyHint(key string) string {
	const shown = 4
	return "…" + key[len(key)-shown:]
}

// Revoke ends the license whose key is given.
func (h *Licenses) Revoke(ctx context.Context, key string, caller Caller) (Result, error) {
	return h.RevokeID(ctx, licenseID(KeyHash(key)), caller)
}

// RevokeID ends the license with the id Issue returned and the licenses read model lists: how a
// license whose key is lost is revoked. An id of no license is license.ErrNotFound.
func (h *Licenses) RevokeID(ctx context.Context, id string, caller Caller) (Result, error) {
	stream := license.Stream(id)
	events, version, err := h.streams.load(ctx, stream)
	if err != nil {
		return Result{}, err
	}
	history, err := ofType[license.Event](stream, events)
	if err != nil {
		return Result{}, err
	}
	l, err := license.Rehydrate(history, version)
	if err != nil {
		return Result{}, err
	}
	if err := l.Revoke(); err != nil {
		return Result{}, err
	}
	return h.streams.save(ctx, stream, l.Version(), asEvents(l.Changes()), caller)
}
