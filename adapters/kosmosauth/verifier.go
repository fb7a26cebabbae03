// Package kosmosauth is 1Kosmos's request authentication, both sides of it.
//
// A request carries three headers: publickey (the caller's secp256k1 public key, base64 X ‖ Y),
// licensekey (the license key) and requestid (the JSON {"ts":<unix seconds>,"appid":...,"uuid":...}),
// the last two encrypted with kosmoscrypto under the key the caller shares with the service key
// pair. The Verifier checks them on the server; Client makes them on the client.
//
// Authentication ends with knowing who claims to call: looking the license up, its level and its
// scope are the application's business. The server checks a request in two steps, with the
// application's license lookup between them:
//
//	req, err := v.Verify(ctx, publicKey, licenseKey, requestID) // decrypts and checks; records nothing
//	// ... look req.LicenseKey up; reject an unknown or revoked license ...
//	err = v.Commit(req) // records req.UUID; fails for a replay
//
// so that only the requests of a known license take room in the bounded replay cache: anyone can
// make a key pair and encrypt headers that Verify accepts, so were Verify to record their uuids, a
// stranger could fill the cache and lock every caller out.
package kosmosauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/internal/jsonwalk"
)

// The request headers, as 1Kosmos names them. HTTP header names are case-insensitive.
const (
	HeaderPublicKey  = "publickey"
	HeaderLicenseKey = "licensekey"
	HeaderRequestID  = "requestid"
)

// Defaults for Config.
const (
	DefaultTimeSpan           = 30 * time.Second
	DefaultSharedKeyCacheSize = 10_000
	DefaultReplayCacheSize    = 1 << 20
)

// Bounds on what a header may hold, checked before any work is done on it.
const (
	maxPublicKeyLen  = 128  // 88 characters for 64 bytes; room for a clear error on a near miss
	maxEncryptedLen  = 4096 // base64 of IV, ciphertext and tag
	maxAppIDLen      = 256
	maxNonceLen      = 128 // characters of requestid's uuid; see validNonce
	maxLicenseKeyLen = 1024
)

// ServiceKeys gives the service's current private key, with whose public key (published at
// /publickeys) callers encrypt. An operator may reset the key at any time, so the Verifier asks on
// every request: the answer must be cheap, from memory.
type ServiceKeys interface {
	ServicePrivateKey(ctx context.Context) (kosmoscrypto.PrivateKey, error)
}

// Config configures a Verifier. Keys and Now are required; zero values elsewhere take the defaults.
type Config struct {
	// Keys gives the service's current private key.
	Keys ServiceKeys
	// Now is the clock that requestid's ts is checked against.
	Now func() time.Time
	// TimeSpan is how far ts may lie from Now, either way (HOOKD_ALLOWED_TIME_SPAN); the default
	// is DefaultTimeSpan.
	TimeSpan time.Duration
	// SharedKeyCacheSize bounds the number of shared keys remembered, one per caller key and service
	// key. ECDH costs tens of microseconds, too much to pay on every request.
	SharedKeyCacheSize int
	// ReplayCacheSize bounds the number of request uuids remembered (by Commit, so of known licenses
	// only); each is forgotten once its ts leaves the time span. It must exceed the requests expected
	// in twice the time span.
	ReplayCacheSize int
	// NotBefore, when set, refuses every request whose ts lies before it: the replay cache lives in
	// memory, so a server that restarts does not know which uuids its previous run accepted, and
	// sets NotBefore to its start (optional).
	NotBefore time.Time
}

func (c *Config) setDefaults() {
	if c.TimeSpan == 0 {
		c.TimeSpan = DefaultTimeSpan
	}
	if c.SharedKeyCacheSize == 0 {
		c.SharedKeyCacheSize = DefaultSharedKeyCacheSize
	}
	if c.ReplayCacheSize == 0 {
		c.ReplayCacheSize = DefaultReplayCacheSize
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Keys == nil {
		errs = append(errs, errors.New("the service key source Keys is required"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("the clock Now is required"))
	}
	if c.TimeSpan < time.Second {
		errs = append(errs, fmt.Errorf("TimeSpan must be at least 1s, got %s", c.TimeSpan))
	}
	if c.SharedKeyCacheSize < 1 {
		errs = append(errs, fmt.Errorf("SharedKeyCacheSize must be positive, got %d", c.SharedKeyCacheSize))
	}
	if c.ReplayCacheSize < 1 {
		errs = append(errs, fmt.Errorf("ReplayCacheSize must be positive, got %d", c.ReplayCacheSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kosmosauth: %w", err)
	}
	return nil
}

// Request is what an authenticated request claims. Its strings are its own: none aliases the
// header values Verify was given.
type Request struct {
	// LicenseKey is the decrypted license key; the application looks it up.
	LicenseKey string
	// AppID is requestid's appid, as the caller sent it (possibly empty).
	AppID string
	// UUID is requestid's uuid, the request's nonce: 1 to 128 printable characters (a UUID with or
	// without hyphens, a ULID, ...), in lower case, unique inside the time span once Commit has
	// accepted it.
	UUID string
	// TS is requestid's ts.
	TS time.Time
}

// Verifier checks the authentication headers of requests. It is safe for concurrent use.
type Verifier struct {
	keys   ServiceKeys
	now    func() time.Time
	span   time.Duration
	shared *sharedKeyCache
	replay *replayCache
	// notBefore is Config.NotBefore in unix seconds; 0 when unset.
	notBefore float64
}

// NewVerifier builds a Verifier from cfg, after filling in defaults.
func NewVerifier(cfg Config) (*Verifier, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Verifier{
		keys:      cfg.Keys,
		now:       cfg.Now,
		span:      cfg.TimeSpan,
		shared:    newSharedKeyCache(cfg.SharedKeyCacheSize),
		replay:    newReplayCache(cfg.ReplayCacheSize),
		notBefore: unixSeconds(cfg.NotBefore),
	}, nil
}

// TimeSpan is how far a request's ts may lie from the server's clock: Config.TimeSpan, or its default.
func (v *Verifier) TimeSpan() time.Duration { return v.span }

// Verify authenticates a request from the raw values of its publickey, licensekey and requestid
// headers: it decrypts them and checks their shape and ts. A request that fails gets an error
// matching ErrUnauthenticated (an *AuthError with the reason). Other errors are the server's: the
// ServiceKeys' error, or no service key.
//
// Verify records nothing, so it does not detect replays: a request it accepts is not authenticated
// until Commit accepts it too. The caller looks the license up in between and calls Commit only for
// a license it knows and honours, so that strangers take no room in the replay cache.
func (v *Verifier) Verify(ctx context.Context, publicKey, licenseKey, requestID string) (Request, error) {
	if err := checkPresent(publicKey, licenseKey, requestID); err != nil {
		return Request{}, err
	}
	priv, err := v.keys.ServicePrivateKey(ctx)
	if err != nil {
		return Request{}, fmt.Errorf("kosmosauth: service key: %w", err)
	}
	if priv.IsZero() {
		return Request{}, errors.New("kosmosauth: service key: none configured")
	}
	key, err := v.sharedKey(priv, publicKey)
	if err != nil {
		return Request{}, reject(HeaderPublicKey+" header: "+err.Error(), err)
	}

	license, err := kosmoscrypto.Decrypt(key, licenseKey)
	if err != nil {
		return Request{}, reject(HeaderLicenseKey+" header: "+err.Error(), err)
	}
	if len(license) == 0 || len(license) > maxLicenseKeyLen || !utf8.Valid(license) {
		return Request{}, reject(HeaderLicenseKey+" header: the license key must be 1 to "+strconv.Itoa(maxLicenseKeyLen)+" bytes of UTF-8 text", nil)
	}

	plain, err := kosmoscrypto.Decrypt(key, requestID)
	if err != nil {
		return Request{}, reject(HeaderRequestID+" header: "+err.Error(), err)
	}
	rid, err := parseRequestID(plain)
	if err != nil {
		return Request{}, err
	}

	ts, err := v.checkTS(rid.TS, v.now())
	if err != nil {
		return Request{}, err
	}
	return Request{
		LicenseKey: string(license),
		AppID:      rid.AppID,
		UUID:       strings.ToLower(rid.UUID),
		TS:         ts,
	}, nil
}

// Commit records the uuid of a request Verify accepted and whose license the caller has found
// valid, until its ts leaves the time span. Check and record are one step: a request whose uuid was
// recorded before fails with an error matching ErrUnauthenticated (an *AuthError saying it is a
// replay), and of several identical requests committed at once exactly one succeeds. Commit checks
// the ts against the clock again, since time passed since Verify; a late request fails the same way.
// When the replay cache is full, Commit fails with ErrReplayCacheFull and records nothing.
//
// A request must be committed before it is acted on; one that is not is open to replay.
func (v *Verifier) Commit(req Request) error {
	if !validNonce(req.UUID) {
		return reject(HeaderRequestID+" header: "+nonceReason, nil)
	}
	now := v.now()
	if d := now.Sub(req.TS); d > v.span || d < -v.span {
		return reject(fmt.Sprintf("%s header: ts %d is outside the allowed time span of %s around the server's time %d",
			HeaderRequestID, req.TS.Unix(), v.span, now.Unix()), nil)
	}
	// The unix second after which the ts check alone rejects the request, so the replay cache may
	// forget the uuid: ts + span rounded up. It is not before now, as ts + span is not.
	end := req.TS.Add(v.span)
	expires := end.Unix()
	if end.Nanosecond() != 0 {
		expires++
	}
	return v.replay.add(strings.ToLower(req.UUID), expires, now.Unix())
}

func checkPresent(publicKey, licenseKey, requestID string) error {
	for _, h := range []struct {
		name, value string
		max         int
	}{
		{HeaderPublicKey, publicKey, maxPublicKeyLen},
		{HeaderLicenseKey, licenseKey, maxEncryptedLen},
		{HeaderRequestID, requestID, maxEncryptedLen},
	} {
		if h.value == "" {
			return reject("missing "+h.name+" header", nil)
		}
		if len(h.value) > h.max {
			return reject(fmt.Sprintf("%s header is %d characters long, at most %d allowed", h.name, len(h.value), h.max), nil)
		}
	}
	return nil
}

// sharedKey returns the key shared by the service key and the caller's key, from the cache when
// it can. The cache is keyed by both public keys, so a reset service key never meets a stale entry.
func (v *Verifier) sharedKey(priv kosmoscrypto.PrivateKey, callerPublicKey string) ([kosmoscrypto.SharedKeySize]byte, error) {
	id := sharedKeyID{service: priv.PublicKey().Bytes(), caller: callerPublicKey}
	if key, ok := v.shared.get(id); ok {
		return key, nil
	}
	pub, err := kosmoscrypto.ParsePublicKey(callerPublicKey)
	if err != nil {
		return [kosmoscrypto.SharedKeySize]byte{}, err
	}
	key, err := kosmoscrypto.SharedKey(priv, pub)
	if err != nil {
		return key, err
	}
	// The header value may alias a buffer the HTTP server reuses for the next request (Fiber's
	// strings do): the cache keeps a copy of its own.
	id.caller = strings.Clone(id.caller)
	v.shared.put(id, key)
	return key, nil
}

// requestID is requestid's JSON. TS is a json.Number so that fractional seconds, as JavaScript's
// Date.now()/1000 gives them, are accepted as well as integers (and, as encoding/json allows for a
// json.Number, a number in a string).
type requestID struct {
	TS    json.Number `json:"ts"`
	AppID string      `json:"appid"`
	UUID  string      `json:"uuid"`
}

func parseRequestID(plain []byte) (requestID, error) {
	rid, ok := plainRequestID(plain)
	if !ok {
		rid = requestID{}
		if err := json.Unmarshal(plain, &rid); err != nil {
			return requestID{}, reject(HeaderRequestID+` header: not the JSON {"ts","appid","uuid"}`, err)
		}
	}
	switch {
	case rid.TS == "":
		return requestID{}, reject(HeaderRequestID+" header: missing ts", nil)
	case rid.UUID == "":
		return requestID{}, reject(HeaderRequestID+" header: missing uuid", nil)
	case !validNonce(rid.UUID):
		return requestID{}, reject(HeaderRequestID+" header: "+nonceReason, nil)
	case len(rid.AppID) > maxAppIDLen:
		return requestID{}, reject(fmt.Sprintf("%s header: appid longer than %d characters", HeaderRequestID, maxAppIDLen), nil)
	}
	return rid, nil
}

// plainRequestID reads requestid's JSON when it has the plain shape clients send, in one quick
// validating walk: an object of ts (a number), appid and uuid (strings), each once and named
// exactly (jsonwalk.ValidFields). ok is false for any other shape, which json.Unmarshal then reads
// (a ts in a string, a key in another case, an unknown key, ...). FuzzPlainRequestID holds it to
// json.Unmarshal.
func plainRequestID(plain []byte) (rid requestID, ok bool) {
	return rid, jsonwalk.ValidFields(plain, []jsonwalk.Field{
		{Name: "ts", Into: &rid.TS}, {Name: "appid", Into: &rid.AppID}, {Name: "uuid", Into: &rid.UUID},
	})
}

const nonceReason = "uuid must be 1 to 128 printable characters (a UUID, with or without hyphens, a ULID, ...)"

// validNonce reports whether s can be requestid's uuid: 1 to maxNonceLen characters of UTF-8 without
// control characters. The seed says only that uuid is a string, and the uuid serves only as a
// single-use nonce (it is encrypted, so nobody but the caller chooses it): any form a client makes
// its nonces in will do, a UUID with or without hyphens, a ULID and the like. Nonces are compared in
// lower case, as UUIDs and ULIDs are read regardless of case. Control characters are refused because the uuid becomes the request's
// correlation id in the log and in logs.
func validNonce(s string) bool {
	if s == "" || len(s) > maxNonceLen*utf8.UTFMax || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNonceLen {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// unixSeconds is t in unix seconds, with its fraction; 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// checkTS accepts ts when it lies within the time span of now and not before NotBefore, and returns
// it as a time.
func (v *Verifier) checkTS(raw json.Number, now time.Time) (time.Time, error) {
	ts, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(ts, 0) || math.IsNaN(ts) {
		return time.Time{}, reject(HeaderRequestID+" header: ts must be a number of unix seconds", nil)
	}
	nowSec := unixSeconds(now)
	if math.Abs(nowSec-ts) > v.span.Seconds() {
		return time.Time{}, reject(fmt.Sprintf("%s header: ts %s is outside the allowed time span of %s around the server's time %d",
			HeaderRequestID, raw, v.span, now.Unix()), nil)
	}
	if ts < v.notBefore {
		return time.Time{}, reject(fmt.Sprintf("%s header: ts %s is before this server started, at %s: a request id made before a "+
			"restart may have been used already; make a fresh one", HeaderRequestID, raw,
			strconv.FormatFloat(v.notBefore, 'f', -1, 64)), nil)
	}
	sec, frac := math.Modf(ts)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
