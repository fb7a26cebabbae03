package kosmosauth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/kosmosauth"
	"github.com/hookd/hookd/adapters/kosmoscrypto"
	"github.com/hookd/hookd/internal/testvectors"
)

// fakeKeys is the service key source: an operator can reset the key while requests run.
type fakeKeys struct {
	mu  sync.Mutex
	key kosmoscrypto.PrivateKey
	err error
}

func (f *fakeKeys) ServicePrivateKey(context.Context) (kosmoscrypto.PrivateKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.key, f.err
}

func (f *fakeKeys) set(k kosmoscrypto.PrivateKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.key = k
}

// clock is a settable clock.
type clock struct{ nanos atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.nanos.Load()) }
func (c *clock) set(t time.Time)         { c.nanos.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.nanos.Add(int64(d)) }

var epoch = time.Unix(1763800000, 0)

type fixture struct {
	service kosmoscrypto.KeyPair
	caller  kosmoscrypto.KeyPair
	keys    *fakeKeys
	clock   *clock
	v       *kosmosauth.Verifier
	client  *kosmosauth.Client
	shared  [32]byte // the caller's and the service's key, to craft odd headers
}

func newFixture(t testing.TB, mutate ...func(*kosmosauth.Config)) *fixture {
	t.Helper()
	f := &fixture{clock: newClock(epoch)}
	var err error
	if f.service, err = kosmoscrypto.GenerateKeyPair(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if f.caller, err = kosmoscrypto.GenerateKeyPair(rand.Reader); err != nil {
		t.Fatal(err)
	}
	f.keys = &fakeKeys{key: f.service.Private}
	cfg := kosmosauth.Config{Keys: f.keys, Now: f.clock.now}
	for _, m := range mutate {
		m(&cfg)
	}
	if f.v, err = kosmosauth.NewVerifier(cfg); err != nil {
		t.Fatal(err)
	}
	if f.client, err = kosmosauth.NewClient(f.service.Public.Encode(), f.caller.Private.Encode()); err != nil {
		t.Fatal(err)
	}
	if f.shared, err = kosmoscrypto.SharedKey(f.caller.Private, f.service.Public); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) headers(t testing.TB) map[string]string {
	t.Helper()
	h, err := f.client.Headers("lic_test", "com.example.app", f.clock.now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// encrypt encrypts with the key the caller shares with the service, for hand-made headers.
func (f *fixture) encrypt(t testing.TB, plaintext string) string {
	t.Helper()
	ct, err := kosmoscrypto.Encrypt(f.shared, []byte(plaintext), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func (f *fixture) verify(h map[string]string) (kosmosauth.Request, error) {
	return f.v.Verify(context.Background(), h[kosmosauth.HeaderPublicKey], h[kosmosauth.HeaderLicenseKey], h[kosmosauth.HeaderRequestID])
}

// accept is the server's whole check of a request whose license is valid: Verify, then Commit.
func (f *fixture) accept(h map[string]string) (kosmosauth.Request, error) {
	req, err := f.verify(h)
	if err != nil {
		return req, err
	}
	return req, f.v.Commit(req)
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.clock.set(epoch.Add(700 * time.Millisecond))
	h := f.headers(t)
	if len(h) != 3 {
		t.Fatalf("headers %v, want exactly publickey, licensekey and requestid", h)
	}
	req, err := f.verify(h)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if req.LicenseKey != "lic_test" || req.AppID != "com.example.app" {
		t.Errorf("Verify = %+v", req)
	}
	if !req.TS.Equal(epoch) {
		t.Errorf("TS = %v, want the client's clock in whole seconds %v", req.TS, epoch)
	}
	if _, err := uuid.Parse(req.UUID); err != nil {
		t.Errorf("UUID %q: %v", req.UUID, err)
	}
}

func TestClientHeadersAreWhatA1KosmosClientSends(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.headers(t)
	second := f.headers(t)
	if first[kosmosauth.HeaderPublicKey] != f.caller.Public.Encode() {
		t.Errorf("publickey = %q, want the caller's public key", first[kosmosauth.HeaderPublicKey])
	}
	lic, err := kosmoscrypto.Decrypt(f.shared, first[kosmosauth.HeaderLicenseKey])
	if err != nil || string(lic) != "lic_test" {
		t.Fatalf("licensekey decrypts to %q, %v", lic, err)
	}
	re := regexp.MustCompile(`^\{"ts":1763800000,"appid":"com\.example\.app","uuid":"([0-9a-f-]{36})"\}$`)
	var uuids []string
	for _, h := range []map[string]string{first, second} {
		rid, err := kosmoscrypto.Decrypt(f.shared, h[kosmosauth.HeaderRequestID])
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindStringSubmatch(string(rid))
		if m == nil {
			t.Fatalf("requestid = %s, want %s", rid, re)
		}
		id, err := uuid.Parse(m[1])
		if err != nil || id.Version() != 4 {
			t.Errorf("uuid %s is not a version 4 uuid", m[1])
		}
		uuids = append(uuids, m[1])
	}
	if uuids[0] == uuids[1] {
		t.Error("two calls gave the same uuid")
	}
	if first[kosmosauth.HeaderLicenseKey] == second[kosmosauth.HeaderLicenseKey] {
		t.Error("two calls encrypted the license key with the same IV")
	}
}

func TestHeadersFunctionMatchesClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h, err := kosmosauth.Headers(f.service.Public.Encode(), f.caller.Private.Encode(), "lic_x", "", epoch, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	req, err := f.verify(h)
	if err != nil || req.LicenseKey != "lic_x" || req.AppID != "" {
		t.Fatalf("Verify = %+v, %v", req, err)
	}
	if _, err := kosmosauth.Headers("bad", f.caller.Private.Encode(), "l", "a", epoch, rand.Reader); !errors.Is(err, kosmoscrypto.ErrInvalidPublicKey) {
		t.Errorf("bad service key: err = %v", err)
	}
}

func TestNewClientRejectsBadKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := kosmosauth.NewClient(f.service.Public.Encode(), f.caller.Public.Encode()); !errors.Is(err, kosmoscrypto.ErrInvalidPrivateKey) || !strings.Contains(err.Error(), "caller private key") {
		t.Errorf("public key as private key: err = %v", err)
	}
	if _, err := kosmosauth.NewClient(f.service.Private.Encode(), f.caller.Private.Encode()); !errors.Is(err, kosmoscrypto.ErrInvalidPublicKey) || !strings.Contains(err.Error(), "service public key") {
		t.Errorf("private key as public key: err = %v", err)
	}
}

func TestClientPassesRandomnessFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Enough bytes for the uuid, not for the IVs.
	short := strings.NewReader(strings.Repeat("x", 20))
	if _, err := f.client.Headers("lic", "app", epoch, short); err == nil {
		t.Fatal("Headers succeeded without randomness for the IVs")
	}
	if _, err := f.client.Headers("lic", "app", epoch, strings.NewReader("")); err == nil {
		t.Fatal("Headers succeeded without randomness for the uuid")
	}
}

// TestVectorRequest verifies the headers of the known-answer file as a 1Kosmos client sent them.
func TestVectorRequest(t *testing.T) {
	t.Parallel()
	vec := testvectors.LoadECDH(t)
	ciphertexts := map[string]string{}
	for _, c := range vec.Cases {
		ciphertexts[c.Name] = c.Ciphertext
	}
	if ciphertexts["license key"] == "" || ciphertexts["requestid json"] == "" {
		t.Fatal("the vector file lacks the cases \"license key\" and \"requestid json\"")
	}
	servicePriv, err := kosmoscrypto.ParsePrivateKey(vec.ServiceKey.Private)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock(epoch.Add(10 * time.Second))
	v, err := kosmosauth.NewVerifier(kosmosauth.Config{Keys: &fakeKeys{key: servicePriv}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	req, err := v.Verify(context.Background(), vec.CallerKey.Public, ciphertexts["license key"], ciphertexts["requestid json"])
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := kosmosauth.Request{
		LicenseKey: "lic_3f9a1c0e5b7d4e2f8a6c",
		AppID:      "com.example.app",
		UUID:       "9b2f6c1e-1d5a-4c1b-8d7e-2f1a3b4c5d6e",
		TS:         epoch,
	}
	if req != want {
		t.Fatalf("Verify = %+v, want %+v", req, want)
	}
	if err := v.Commit(req); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()
	span := kosmosauth.DefaultTimeSpan
	other, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rid := func(ts any, appid, id any) string {
		m := map[string]any{"appid": appid}
		if ts != nil {
			m["ts"] = ts
		}
		if id != nil {
			m["uuid"] = id
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	flip := func(s string, i int) string {
		raw, _ := base64.StdEncoding.DecodeString(s)
		raw[i%len(raw)] ^= 1
		return base64.StdEncoding.EncodeToString(raw)
	}

	cases := []struct {
		name   string
		edit   func(t *testing.T, f *fixture, h map[string]string)
		reason string
		cause  error
	}{
		{"missing publickey", func(_ *testing.T, _ *fixture, h map[string]string) { h["publickey"] = "" }, "missing publickey header", nil},
		{"missing licensekey", func(_ *testing.T, _ *fixture, h map[string]string) { h["licensekey"] = "" }, "missing licensekey header", nil},
		{"missing requestid", func(_ *testing.T, _ *fixture, h map[string]string) { h["requestid"] = "" }, "missing requestid header", nil},
		{"oversized publickey", func(_ *testing.T, _ *fixture, h map[string]string) { h["publickey"] = strings.Repeat("A", 200) }, "publickey header is 200 characters long", nil},
		{"oversized requestid", func(_ *testing.T, _ *fixture, h map[string]string) { h["requestid"] = strings.Repeat("A", 5000) }, "requestid header is 5000 characters long", nil},
		{"publickey not base64", func(_ *testing.T, _ *fixture, h map[string]string) { h["publickey"] = "not base64!" }, "publickey header: invalid public key: not standard base64", kosmoscrypto.ErrInvalidPublicKey},
		{"publickey wrong length", func(_ *testing.T, _ *fixture, h map[string]string) {
			h["publickey"] = base64.StdEncoding.EncodeToString(make([]byte, 33))
		}, "must be 64 bytes", kosmoscrypto.ErrInvalidPublicKey},
		{"publickey off the curve", func(_ *testing.T, _ *fixture, h map[string]string) { h["publickey"] = flip(h["publickey"], 63) }, "not a point on secp256k1", kosmoscrypto.ErrInvalidPublicKey},
		{"licensekey not base64", func(_ *testing.T, _ *fixture, h map[string]string) { h["licensekey"] = "%%%" }, "licensekey header: invalid ciphertext: not standard base64", kosmoscrypto.ErrInvalidCiphertext},
		{"licensekey too short", func(_ *testing.T, _ *fixture, h map[string]string) {
			h["licensekey"] = base64.StdEncoding.EncodeToString(make([]byte, 20))
		}, "licensekey header: invalid ciphertext: 20 bytes is too short", kosmoscrypto.ErrInvalidCiphertext},
		{"licensekey tampered", func(_ *testing.T, _ *fixture, h map[string]string) { h["licensekey"] = flip(h["licensekey"], 20) }, "licensekey header: invalid ciphertext: authentication failed", kosmoscrypto.ErrInvalidCiphertext},
		{"requestid tampered", func(_ *testing.T, _ *fixture, h map[string]string) { h["requestid"] = flip(h["requestid"], 40) }, "requestid header: invalid ciphertext: authentication failed", kosmoscrypto.ErrInvalidCiphertext},
		{"requestid IV tampered", func(_ *testing.T, _ *fixture, h map[string]string) { h["requestid"] = flip(h["requestid"], 0) }, "requestid header: invalid ciphertext: authentication failed", kosmoscrypto.ErrInvalidCiphertext},
		{"encrypted for another service key", func(t *testing.T, f *fixture, h map[string]string) {
			c, err := kosmosauth.NewClient(other.Public.Encode(), f.caller.Private.Encode())
			if err != nil {
				t.Fatal(err)
			}
			hh, err := c.Headers("lic_test", "app", f.clock.now(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range hh {
				h[k] = v
			}
		}, "licensekey header: invalid ciphertext: authentication failed", kosmoscrypto.ErrInvalidCiphertext},
		{"someone else's publickey", func(_ *testing.T, _ *fixture, h map[string]string) { h["publickey"] = other.Public.Encode() }, "licensekey header: invalid ciphertext: authentication failed", kosmoscrypto.ErrInvalidCiphertext},
		{"headers swapped", func(_ *testing.T, _ *fixture, h map[string]string) {
			h["licensekey"], h["requestid"] = h["requestid"], h["licensekey"]
		}, `requestid header: not the JSON {"ts","appid","uuid"}`, nil},
		{"empty license key", func(t *testing.T, f *fixture, h map[string]string) { h["licensekey"] = f.encrypt(t, "") }, "licensekey header: the license key must be 1 to", nil},
		{"binary license key", func(t *testing.T, f *fixture, h map[string]string) { h["licensekey"] = f.encrypt(t, "\xff\xfe") }, "licensekey header: the license key must be 1 to", nil},
		{"requestid not JSON", func(t *testing.T, f *fixture, h map[string]string) { h["requestid"] = f.encrypt(t, "ts=1&uuid=x") }, `requestid header: not the JSON {"ts","appid","uuid"}`, nil},
		{"requestid JSON array", func(t *testing.T, f *fixture, h map[string]string) { h["requestid"] = f.encrypt(t, "[1,2]") }, `requestid header: not the JSON`, nil},
		{"requestid trailing garbage", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), "a", uuid.NewString())+"x")
		}, `requestid header: not the JSON`, nil},
		{"uuid missing", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), "a", nil))
		}, "requestid header: missing uuid", nil},
		{"uuid empty", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), "a", ""))
		}, "requestid header: missing uuid", nil},
		{"uuid a number", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), "a", 7))
		}, "requestid header: not the JSON", nil},
		{"uuid too long", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), "a", strings.Repeat("u", 129)))
		}, "requestid header: uuid must be 1 to 128 printable characters", nil},
		{"uuid too long in characters", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), "a", strings.Repeat("é", 129)))
		}, "requestid header: uuid must be 1 to 128 printable characters", nil},
		{"uuid with a NUL", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), "a", "request\x001"))
		}, "requestid header: uuid must be 1 to 128 printable characters", nil},
		{"uuid with a line break", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), "a", "request\r\n1"))
		}, "requestid header: uuid must be 1 to 128 printable characters", nil},
		{"uuid with DEL", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), "a", "request\x7f"))
		}, "requestid header: uuid must be 1 to 128 printable characters", nil},
		{"appid too long", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Unix(), strings.Repeat("a", 257), uuid.NewString()))
		}, "requestid header: appid longer than 256 characters", nil},
		{"ts missing", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(nil, "a", uuid.NewString()))
		}, "requestid header: missing ts", nil},
		{"ts not a number", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid("soon", "a", uuid.NewString()))
		}, "requestid header: not the JSON", nil},
		{"ts too old", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Add(-span-time.Second).Unix(), "a", uuid.NewString()))
		}, "requestid header: ts 1763799969 is outside the allowed time span of 30s around the server's time 1763800000", nil},
		{"ts too new", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.Add(span+time.Second).Unix(), "a", uuid.NewString()))
		}, "requestid header: ts 1763800031 is outside the allowed time span", nil},
		{"ts just too old", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(1763800000-30.001, "a", uuid.NewString()))
		}, "outside the allowed time span", nil},
		{"ts in milliseconds", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, rid(epoch.UnixMilli(), "a", uuid.NewString()))
		}, "ts 1763800000000 is outside the allowed time span", nil},
		{"ts huge", func(t *testing.T, f *fixture, h map[string]string) {
			h["requestid"] = f.encrypt(t, `{"ts":1e400,"uuid":"`+uuid.NewString()+`"}`)
		}, "requestid header: ts must be a number of unix seconds", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			h := f.headers(t)
			c.edit(t, f, h)
			_, err := f.verify(h)
			if !errors.Is(err, kosmosauth.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
			var ae *kosmosauth.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err %T is no *AuthError", err)
			}
			if !strings.Contains(ae.Reason, c.reason) {
				t.Errorf("reason = %q, want it to contain %q", ae.Reason, c.reason)
			}
			if err.Error() != "unauthenticated: "+ae.Reason {
				t.Errorf("Error() = %q", err.Error())
			}
			if c.cause != nil && !errors.Is(err, c.cause) {
				t.Errorf("err = %v, want it to wrap %v", err, c.cause)
			}
		})
	}
}

func TestAcceptsTSWithinSpan(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, ts := range []any{
		epoch.Unix() - 30, epoch.Unix() + 30, 1763800000.25, epoch.Unix(), json.Number("1763800010"), "1763800001",
	} {
		b, _ := json.Marshal(map[string]any{"ts": ts, "appid": "a", "uuid": uuid.NewString()})
		h := f.headers(t)
		h["requestid"] = f.encrypt(t, string(b))
		req, err := f.verify(h)
		if err != nil {
			t.Errorf("ts %v: %v", ts, err)
			continue
		}
		if ts == 1763800000.25 && !req.TS.Equal(epoch.Add(250*time.Millisecond)) {
			t.Errorf("fractional ts gave TS %v", req.TS)
		}
	}
}

func TestCustomTimeSpan(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *kosmosauth.Config) { c.TimeSpan = 5 * time.Second })
	if f.v.TimeSpan() != 5*time.Second {
		t.Fatalf("TimeSpan = %s", f.v.TimeSpan())
	}
	h := f.headers(t)
	f.clock.advance(6 * time.Second)
	if _, err := f.verify(h); !errors.Is(err, kosmosauth.ErrUnauthenticated) {
		t.Fatalf("a request 6 s old passed a 5 s span: %v", err)
	}
}

// TestNonceForms: requestid's uuid is a nonce in whatever form the client makes them, as long as it
// is 1 to 128 printable characters; each is single-use inside the time span.
func TestNonceForms(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := uuid.NewString()
	forms := map[string]string{
		"canonical UUID":           id,
		"UUID in upper case":       strings.ToUpper(uuid.NewString()),
		"UUID without hyphens":     strings.ReplaceAll(uuid.NewString(), "-", ""),
		"ULID":                     "01ARZ3NDEKTSV4RRFFQ69G5FAV",
		"UUID in braces":           "{" + uuid.NewString() + "}",
		"URN":                      "urn:uuid:" + uuid.NewString(),
		"one character":            "x",
		"128 characters":           strings.Repeat("n", 128),
		"128 non-ASCII characters": strings.Repeat("é", 128),
		"with spaces":              "request 42 of batch 7",
	}
	for name, nonce := range forms {
		b, _ := json.Marshal(map[string]any{"ts": epoch.Unix(), "appid": "a", "uuid": nonce})
		h := f.headers(t)
		h["requestid"] = f.encrypt(t, string(b))
		req, err := f.accept(h)
		if err != nil {
			t.Errorf("%s %q: %v", name, nonce, err)
			continue
		}
		if req.UUID != strings.ToLower(nonce) {
			t.Errorf("%s: UUID = %q, want the nonce as sent, in lower case", name, req.UUID)
		}
		// Single-use: the same nonce again, under a fresh encryption and another ts, is a replay.
		b, _ = json.Marshal(map[string]any{"ts": epoch.Unix() - 3, "appid": "a", "uuid": nonce})
		h["requestid"] = f.encrypt(t, string(b))
		if _, err := f.accept(h); err == nil || !strings.Contains(err.Error(), "uuid already used") {
			t.Errorf("%s used again: err = %v, want a replay rejection", name, err)
		}
	}
}

func TestReplayRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.headers(t)
	if _, err := f.accept(h); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, time.Second, 29 * time.Second, 30 * time.Second} {
		f.clock.set(epoch.Add(d))
		_, err := f.accept(h)
		var ae *kosmosauth.AuthError
		if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "uuid already used") {
			t.Fatalf("replay %s later: err = %v, want a replay rejection", d, err)
		}
	}
	// Once ts leaves the span the request is too old, whatever the replay cache holds.
	f.clock.set(epoch.Add(31 * time.Second))
	if _, err := f.accept(h); err == nil || !strings.Contains(err.Error(), "outside the allowed time span") {
		t.Fatalf("replay after the span: err = %v", err)
	}

	// A failed request does not use up its uuid: the genuine one still passes.
	f.clock.set(epoch)
	h2 := f.headers(t)
	bad := map[string]string{"publickey": h2["publickey"], "licensekey": f.encrypt(t, ""), "requestid": h2["requestid"]}
	if _, err := f.accept(bad); err == nil {
		t.Fatal("empty license passed")
	}
	if _, err := f.accept(h2); err != nil {
		t.Fatalf("the genuine request after a failed one with its uuid: %v", err)
	}
}

// TestVerifyRecordsNothing: Verify alone, as for a request whose license turns out unknown, takes
// no room in the replay cache, however often it runs.
func TestVerifyRecordsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *kosmosauth.Config) { c.ReplayCacheSize = 1 })
	h := f.headers(t)
	for range 5 {
		if _, err := f.verify(h); err != nil {
			t.Fatalf("Verify of the same headers again: %v, want no replay detection before Commit", err)
		}
	}
	// A stranger's flood of fresh requests, each verified and never committed...
	for range 20 {
		if _, err := f.verify(f.headers(t)); err != nil {
			t.Fatal(err)
		}
	}
	// ... leaves the one-entry cache free for the first request committed, which is then a replay.
	if _, err := f.accept(h); err != nil {
		t.Fatalf("Commit after many Verifies: %v", err)
	}
	if _, err := f.accept(h); !errors.Is(err, kosmosauth.ErrUnauthenticated) || !strings.Contains(err.Error(), "uuid already used") {
		t.Fatalf("second Commit: err = %v, want a replay rejection", err)
	}
}

func TestCommitConcurrent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 64
	for round := range 5 {
		req, err := f.verify(f.headers(t))
		if err != nil {
			t.Fatal(err)
		}
		var passed, replayed atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				<-start
				err := f.v.Commit(req)
				var ae *kosmosauth.AuthError
				switch {
				case err == nil:
					passed.Add(1)
				case errors.Is(err, kosmosauth.ErrUnauthenticated) && errors.As(err, &ae) && strings.Contains(ae.Reason, "uuid already used"):
					replayed.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if passed.Load() != 1 || replayed.Load() != n-1 {
			t.Fatalf("round %d: %d Commits passed and %d were rejected as replays, want 1 and %d", round, passed.Load(), replayed.Load(), n-1)
		}
	}
}

func TestCommitChecksItsRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req, err := f.verify(f.headers(t))
	if err != nil {
		t.Fatal(err)
	}
	// Time passed between Verify and Commit (a slow license lookup): the request is too old now,
	// and the replay cache would forget it too soon to catch a replay.
	f.clock.advance(kosmosauth.DefaultTimeSpan + time.Second)
	if err := f.v.Commit(req); !errors.Is(err, kosmosauth.ErrUnauthenticated) || !strings.Contains(err.Error(), "outside the allowed time span") {
		t.Fatalf("late Commit: err = %v, want a rejection for the ts", err)
	}
	f.clock.set(epoch)
	for _, id := range []string{"", strings.Repeat("u", 129), "a\nb"} {
		bad := req
		bad.UUID = id
		if err := f.v.Commit(bad); !errors.Is(err, kosmosauth.ErrUnauthenticated) || !strings.Contains(err.Error(), "uuid must be 1 to 128 printable characters") {
			t.Errorf("Commit of uuid %q: err = %v, want a rejection", id, err)
		}
	}
	far := req
	far.TS = epoch.Add(time.Hour)
	if err := f.v.Commit(far); !errors.Is(err, kosmosauth.ErrUnauthenticated) {
		t.Errorf("Commit of a ts an hour ahead: err = %v, want a rejection", err)
	}
	if err := f.v.Commit(req); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	// Upper and lower case name one uuid.
	upper := req
	upper.UUID = strings.ToUpper(req.UUID)
	if err := f.v.Commit(upper); !errors.Is(err, kosmosauth.ErrUnauthenticated) || !strings.Contains(err.Error(), "uuid already used") {
		t.Errorf("Commit of the uuid in upper case: err = %v, want a replay rejection", err)
	}
}

func TestUpperCaseUUIDAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := uuid.NewString()
	h := f.headers(t)
	h["requestid"] = f.encrypt(t, `{"ts":`+jsonNumber(epoch.Unix())+`,"appid":"a","uuid":"`+strings.ToUpper(id)+`"}`)
	req, err := f.accept(h)
	if err != nil {
		t.Fatal(err)
	}
	if req.UUID != id {
		t.Errorf("UUID = %q, want it in lower case %q", req.UUID, id)
	}
	h["requestid"] = f.encrypt(t, `{"ts":`+jsonNumber(epoch.Unix())+`,"appid":"a","uuid":"`+id+`"}`)
	if _, err := f.accept(h); !errors.Is(err, kosmosauth.ErrUnauthenticated) {
		t.Errorf("the same uuid in lower case: err = %v, want a replay rejection", err)
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestReplayConcurrent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 64
	for round := range 5 {
		h := f.headers(t)
		var passed, replayed atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				<-start
				_, err := f.accept(h)
				switch {
				case err == nil:
					passed.Add(1)
				case errors.Is(err, kosmosauth.ErrUnauthenticated) && strings.Contains(err.Error(), "uuid already used"):
					replayed.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if passed.Load() != 1 || replayed.Load() != n-1 {
			t.Fatalf("round %d: %d passed and %d were rejected as replays, want 1 and %d", round, passed.Load(), replayed.Load(), n-1)
		}
	}
}

func TestDistinctRequestsConcurrent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 200
	hs := make([]map[string]string, n)
	for i := range hs {
		hs[i] = f.headers(t)
	}
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Go(func() {
			if _, err := f.accept(h); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	wg.Wait()
}

func TestServiceKeyReset(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.verify(f.headers(t)); err != nil {
		t.Fatal(err)
	}
	// The operator resets the service key: the cached shared key of the old one must not be used.
	next, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.keys.set(next.Private)
	if _, err := f.verify(f.headers(t)); !errors.Is(err, kosmoscrypto.ErrInvalidCiphertext) {
		t.Fatalf("headers for the old service key: err = %v, want a decryption failure", err)
	}
	c, err := kosmosauth.NewClient(next.Public.Encode(), f.caller.Private.Encode())
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Headers("lic_test", "app", f.clock.now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(h); err != nil {
		t.Fatalf("headers for the new service key: %v", err)
	}
}

func TestServiceKeyFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.headers(t)
	boom := errors.New("key store down")
	f.keys.mu.Lock()
	f.keys.err = boom
	f.keys.mu.Unlock()
	_, err := f.verify(h)
	if !errors.Is(err, boom) || errors.Is(err, kosmosauth.ErrUnauthenticated) {
		t.Fatalf("err = %v, want the key source's error and no ErrUnauthenticated (it is no caller's fault)", err)
	}

	f.keys.mu.Lock()
	f.keys.err = nil
	f.keys.mu.Unlock()
	f.keys.set(kosmoscrypto.PrivateKey{})
	if _, err := f.verify(h); err == nil || errors.Is(err, kosmosauth.ErrUnauthenticated) {
		t.Fatalf("no service key: err = %v, want a server error", err)
	}
}

func TestReplayCacheFull(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *kosmosauth.Config) { c.ReplayCacheSize = 2 })
	for range 2 {
		if _, err := f.accept(f.headers(t)); err != nil {
			t.Fatal(err)
		}
	}
	h := f.headers(t)
	req, err := f.verify(h)
	if err != nil {
		t.Fatalf("Verify with a full cache: %v, want it to pass (it records nothing)", err)
	}
	err = f.v.Commit(req)
	if !errors.Is(err, kosmosauth.ErrReplayCacheFull) || errors.Is(err, kosmosauth.ErrUnauthenticated) {
		t.Fatalf("err = %v, want ErrReplayCacheFull", err)
	}
	// Once the remembered requests' ts leave the span, there is room again.
	f.clock.advance(kosmosauth.DefaultTimeSpan + time.Second)
	if _, err := f.accept(f.headers(t)); err != nil {
		t.Fatalf("after the span: %v", err)
	}
}

func TestNewVerifierValidates(t *testing.T) {
	t.Parallel()
	_, err := kosmosauth.NewVerifier(kosmosauth.Config{TimeSpan: -time.Second, SharedKeyCacheSize: -1, ReplayCacheSize: -1})
	if err == nil {
		t.Fatal("an empty config was accepted")
	}
	for _, want := range []string{"Keys is required", "Now is required", "TimeSpan", "SharedKeyCacheSize", "ReplayCacheSize"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to mention %q", err, want)
		}
	}
	v, err := kosmosauth.NewVerifier(kosmosauth.Config{Keys: &fakeKeys{}, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if v.TimeSpan() != 30*time.Second {
		t.Errorf("default TimeSpan = %s, want 30s", v.TimeSpan())
	}
}

// TestNotBefore: a server that restarted refuses request ids made before its start, whose uuids its
// previous run may have accepted, and accepts those made since, within the time span as ever.
func TestNotBefore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *kosmosauth.Config) { c.NotBefore = epoch })
	for _, ts := range []any{epoch.Unix() - 1, epoch.Unix() - 20, float64(epoch.UnixMilli()-1) / 1000} {
		b, _ := json.Marshal(map[string]any{"ts": ts, "appid": "a", "uuid": uuid.NewString()})
		h := f.headers(t)
		h["requestid"] = f.encrypt(t, string(b))
		if _, err := f.verify(h); !errors.Is(err, kosmosauth.ErrUnauthenticated) || !strings.Contains(err.Error(), "before this server started") {
			t.Errorf("ts %v, before the start: err = %v, want a rejection", ts, err)
		}
	}
	f.clock.set(epoch.Add(10 * time.Second))
	for _, ts := range []any{epoch.Unix(), epoch.Unix() + 5, epoch.Unix() + 35} {
		b, _ := json.Marshal(map[string]any{"ts": ts, "appid": "a", "uuid": uuid.NewString()})
		h := f.headers(t)
		h["requestid"] = f.encrypt(t, string(b))
		if _, err := f.accept(h); err != nil {
			t.Errorf("ts %v, from the start on: %v", ts, err)
		}
	}
}
