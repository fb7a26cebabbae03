package kosmosauth_test

import (
	"context"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/hookd/hookd/adapters/kosmosauth"
)

// FuzzVerify feeds the authentication headers, which anyone on the network may send, to Verify: as
// sent (publickey, licensekey and requestid as they come) and with licensekey and requestid
// encrypted under the caller's real shared key, so that the fuzzer reaches the request id's JSON and
// the checks behind it. Verify must never panic, and whatever it accepts must hold what the API
// relies on: a nonce of 1 to 128 printable characters in lower case, a ts inside the time span,
// bounded fields, and exactly the license key that was encrypted.
func FuzzVerify(f *testing.F) {
	now := float64(epoch.Unix())
	for _, seed := range []struct {
		encrypt                 bool
		publicKey, license, rid string
	}{
		{true, "", "lic_test", `{"ts":` + jsonNumber(int64(now)) + `,"appid":"app","uuid":"0b7e4b2c-4f6e-4c55-9a4e-2a9f4c1d2e3f"}`},
		{true, "", "lic_test", `{"ts":1763800000.5,"appid":"","uuid":"01JDQ7Z3K8V2N4R6T8W0Y2A4C6"}`},
		{true, "", "", `{"ts":1763800000,"uuid":"x"}`},
		{true, "", "lic", `{"ts":"1763800000","uuid":"x"}`},
		{true, "", "lic", `{"ts":1e400,"uuid":"x"}`},
		{true, "", "lic", `{"ts":-1763800000,"uuid":"x"}`},
		{true, "", "lic", `{"ts":1763800000,"uuid":"\u0000"}`},
		{true, "", "lic", `{"ts":1763800000,"uuid":"` + strings.Repeat("a", 129) + `"}`},
		{true, "", "lic", `{"ts":1763800000,"uuid":"\xff"}`},
		{true, "", "lic", `{"ts":1763800000,"uuid":"a","uuid":"b"}`},
		{true, "", "lic", `[]`},
		{true, "", "lic", `{"ts":1763800000,"uuid":{"a":1}}`},
		{false, "CF/iynpXWJV+qBG9jnQ9nO5rwgBy8UcKiIxDoQkajotsJLlGQfpEw3G3VxJ6/Lo2UuiEQTraeAviHQWFGQ3urA==", "AAAA", "AAAA"},
		{false, "not base64!", "lic", "rid"},
		{false, "", "", ""},
	} {
		f.Add(seed.encrypt, seed.publicKey, seed.license, seed.rid)
	}
	fx := newFixture(f)
	callerPublic := fx.caller.Public.Encode()
	f.Fuzz(func(t *testing.T, encrypt bool, publicKey, license, rid string) {
		licenseHeader, ridHeader := license, rid
		if encrypt {
			publicKey = callerPublic
			licenseHeader, ridHeader = fx.encrypt(t, license), fx.encrypt(t, rid)
		}
		req, err := fx.v.Verify(context.Background(), publicKey, licenseHeader, ridHeader)
		if err != nil {
			return
		}
		if !encrypt {
			t.Fatalf("headers encrypted under no known key were accepted: %+v", req)
		}
		if req.LicenseKey != license {
			t.Fatalf("license key %q, but %q was encrypted", req.LicenseKey, license)
		}
		if req.LicenseKey == "" || len(req.LicenseKey) > 1024 || len(req.AppID) > 256 {
			t.Fatalf("accepted out-of-bounds fields: license %d bytes, appid %d bytes", len(req.LicenseKey), len(req.AppID))
		}
		if n := utf8.RuneCountInString(req.UUID); n < 1 || n > 128 || !utf8.ValidString(req.UUID) ||
			strings.ContainsFunc(req.UUID, unicode.IsControl) || req.UUID != strings.ToLower(req.UUID) {
			t.Fatalf("accepted nonce %q", req.UUID)
		}
		if d := req.TS.Sub(epoch); d < -kosmosauth.DefaultTimeSpan || d > kosmosauth.DefaultTimeSpan {
			t.Fatalf("accepted ts %s, %s from now", req.TS, d)
		}
	})
}
