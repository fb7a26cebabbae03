package main

// Component tests of the 1Kosmos authentication: the three headers, the license levels and scopes,
// and what each level may see.

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/adapters/kosmoscrypto"
)

// apiCaller is a caller's key pair with the key it shares with one service key, to craft headers
// by hand: with any ts, uuid or plaintext.
type apiCaller struct {
	pair kosmoscrypto.KeyPair
	key  [kosmoscrypto.SharedKeySize]byte
}

func apiNewCaller(t *testing.T, servicePublicKey string) apiCaller {
	t.Helper()
	pair, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kosmoscrypto.ParsePublicKey(servicePublicKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := kosmoscrypto.SharedKey(pair.Private, pub)
	if err != nil {
		t.Fatal(err)
	}
	return apiCaller{pair: pair, key: key}
}

func (c apiCaller) encrypt(t *testing.T, plain []byte) string {
	t.Helper()
	ct, err := kosmoscrypto.Encrypt(c.key, plain, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// apiRequestID is a requestid's plaintext with ts seconds from now and a fresh uuid.
func apiRequestID(ts time.Time) map[string]any {
	return map[string]any{"ts": ts.Unix(), "appid": "test-app", "uuid": uuid.NewString()}
}

// headers encrypts licenseKey and requestID (a value marshalled to JSON, or raw bytes) for the
// service.
func (c apiCaller) headers(t *testing.T, licenseKey string, requestID any) map[string]string {
	t.Helper()
	rid, ok := requestID.([]byte)
	if !ok {
		var err error
		if rid, err = json.Marshal(requestID); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{
		"publickey":  c.pair.Public.Encode(),
		"licensekey": c.encrypt(t, []byte(licenseKey)),
		"requestid":  c.encrypt(t, rid),
	}
}

// apiTamper flips one bit of the decoded ciphertext at index i (negative counts from the end).
func apiTamper(t *testing.T, ct string, i int) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(ct)
	if err != nil {
		t.Fatal(err)
	}
	if i < 0 {
		i += len(raw)
	}
	raw[i] ^= 0x01
	return base64.StdEncoding.EncodeToString(raw)
}

// apiIssueLicense issues a license with the CLI and waits until the server knows it: the CLI
// appends to the log directly, and serve's read models see another process's appends at their next
// poll.
func apiIssueLicense(h *testHookd, args ...string) string {
	h.t.Helper()
	out, err := h.runCLI(append([]string{"license", "issue"}, args...)...)
	if err != nil {
		h.t.Fatalf("license issue %v: %v", args, err)
	}
	words := strings.Fields(out)
	if len(words) == 0 {
		h.t.Fatalf("license issue %v printed nothing", args)
	}
	key := words[len(words)-1]
	apiEventually(h.t, 30*time.Second, "the server does not know the license issued by the CLI", func() bool {
		return h.as(key, http.MethodGet, "/servicekeys", nil).Status != http.StatusUnauthorized
	})
	return key
}

func TestAuthMissingHeadersAre401(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	w := apiCreate(h, h.license, scope, apiMinimal("existing"))
	endpoints := []struct {
		method, path string
		body         any
	}{
		{http.MethodPut, scope + "/webhook", apiMinimal("sneaky")},
		{http.MethodPost, scope + "/webhooks/fetch", map[string]any{}},
		{http.MethodGet, scope + "/webhook/" + w.ID, nil},
		{http.MethodPatch, scope + "/webhook/" + w.ID, map[string]any{"name": "sneaky"}},
		{http.MethodDelete, scope + "/webhook/" + w.ID, nil},
		{http.MethodGet, scope + "/webhook/" + w.ID + "/history", nil},
		{http.MethodGet, "/servicekeys", nil},
		{http.MethodDelete, "/servicekey/" + uuid.NewString(), nil},
	}
	for _, e := range endpoints {
		for _, missing := range [][]string{{"publickey"}, {"licensekey"}, {"requestid"}, {"publickey", "licensekey", "requestid"}} {
			headers := h.authHeaders(h.license)
			for _, name := range missing {
				delete(headers, name)
			}
			r := h.do(e.method, e.path, e.body, headers)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s %s without %v: %d %s, want 401", e.method, e.path, missing, r.Status, r.Body)
				continue
			}
			apiWantError(t, r, http.StatusUnauthorized, missing[0])
		}
	}
	if types := apiHistoryTypes(h, scope, w.ID); len(types) != 1 {
		t.Errorf("unauthenticated requests changed the webhook: history %v", types)
	}
	if p := apiFetch(h, h.license, scope, nil); p.Page.Total != 1 {
		t.Errorf("unauthenticated creates went through: total %d", p.Page.Total)
	}
}

func TestAuthRejectsBadHeaders(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	fetch := scope + "/webhooks/fetch"
	servicePub := h.servicePublicKey()
	caller := apiNewCaller(t, servicePub)
	now := time.Now()

	// The crafted headers pass when nothing is wrong with them, ts a little off included, so that each
	// rejection below is due to the one thing each case breaks.
	for _, ts := range []time.Time{now, now.Add(-20 * time.Second), now.Add(20 * time.Second)} {
		r := h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, apiRequestID(ts)))
		if r.Status != http.StatusOK {
			t.Fatalf("crafted headers with ts %s from now: %d %s", ts.Sub(now).Round(time.Second), r.Status, r.Body)
		}
	}
	fractional := map[string]any{"ts": float64(now.UnixMilli()) / 1000, "appid": "web", "uuid": uuid.NewString()}
	if r := h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, fractional)); r.Status != http.StatusOK {
		t.Fatalf("fractional ts: %d %s", r.Status, r.Body)
	}

	other := apiNewCaller(t, servicePub)
	strangerService, err := kosmoscrypto.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	toStranger := apiNewCaller(t, strangerService.Public.Encode())
	toStranger.pair = caller.pair // the caller's own key pair, but the shared key of another service
	toStranger.key, _ = kosmoscrypto.SharedKey(caller.pair.Private, strangerService.Public)
	offCurve := make([]byte, 64)
	offCurve[31], offCurve[63] = 1, 1 // (1, 1) is not on secp256k1
	sec1 := append([]byte{0x04}, func() []byte {
		b, _ := base64.StdEncoding.DecodeString(caller.pair.Public.Encode())
		return b
	}()...)

	cases := []struct {
		name   string
		modify func(hd map[string]string)
	}{
		{"publickey not base64", func(hd map[string]string) { hd["publickey"] = "not base64!" }},
		{"publickey 32 bytes", func(hd map[string]string) { hd["publickey"] = base64.StdEncoding.EncodeToString(make([]byte, 32)) }},
		{"publickey not on the curve", func(hd map[string]string) { hd["publickey"] = base64.StdEncoding.EncodeToString(offCurve) }},
		{"publickey with the 0x04 prefix", func(hd map[string]string) { hd["publickey"] = base64.StdEncoding.EncodeToString(sec1) }},
		{"publickey of another caller", func(hd map[string]string) { hd["publickey"] = other.pair.Public.Encode() }},
		{"licensekey encrypted by another key pair", func(hd map[string]string) {
			hd["licensekey"] = other.encrypt(t, []byte(h.license))
		}},
		{"licensekey encrypted for another service key", func(hd map[string]string) {
			hd["licensekey"] = toStranger.encrypt(t, []byte(h.license))
		}},
		{"licensekey IV tampered", func(hd map[string]string) { hd["licensekey"] = apiTamper(t, hd["licensekey"], 0) }},
		{"licensekey ciphertext tampered", func(hd map[string]string) { hd["licensekey"] = apiTamper(t, hd["licensekey"], 17) }},
		{"licensekey tag tampered", func(hd map[string]string) { hd["licensekey"] = apiTamper(t, hd["licensekey"], -1) }},
		{"licensekey truncated", func(hd map[string]string) { hd["licensekey"] = hd["licensekey"][:24] }},
		{"licensekey not base64", func(hd map[string]string) { hd["licensekey"] = "%%%%" }},
		{"licensekey in plain text", func(hd map[string]string) { hd["licensekey"] = h.license }},
		{"licensekey empty plaintext", func(hd map[string]string) { hd["licensekey"] = caller.encrypt(t, nil) }},
		{"unknown license", func(hd map[string]string) {
			hd["licensekey"] = caller.encrypt(t, []byte("lic_00000000000000000000000000000000"))
		}},
		{"requestid encrypted by another key pair", func(hd map[string]string) {
			rid, _ := json.Marshal(apiRequestID(time.Now()))
			hd["requestid"] = other.encrypt(t, rid)
		}},
		{"requestid tampered", func(hd map[string]string) { hd["requestid"] = apiTamper(t, hd["requestid"], 20) }},
		{"requestid not JSON", func(hd map[string]string) { hd["requestid"] = caller.encrypt(t, []byte("hello")) }},
		{"requestid without ts", func(hd map[string]string) {
			hd["requestid"] = caller.encrypt(t, []byte(`{"appid":"a","uuid":"`+uuid.NewString()+`"}`))
		}},
		{"requestid without uuid", func(hd map[string]string) {
			hd["requestid"] = caller.encrypt(t, []byte(`{"ts":`+jsonInt(time.Now().Unix())+`,"appid":"a"}`))
		}},
		{"requestid ts not a number", func(hd map[string]string) {
			hd["requestid"] = caller.encrypt(t, []byte(`{"ts":"soon","appid":"a","uuid":"`+uuid.NewString()+`"}`))
		}},
		{"ts 35 s in the past", func(hd map[string]string) {
			rid, _ := json.Marshal(apiRequestID(time.Now().Add(-35 * time.Second)))
			hd["requestid"] = caller.encrypt(t, rid)
		}},
		{"ts 35 s in the future", func(hd map[string]string) {
			rid, _ := json.Marshal(apiRequestID(time.Now().Add(35 * time.Second)))
			hd["requestid"] = caller.encrypt(t, rid)
		}},
		{"ts an hour in the past", func(hd map[string]string) {
			rid, _ := json.Marshal(apiRequestID(time.Now().Add(-time.Hour)))
			hd["requestid"] = caller.encrypt(t, rid)
		}},
		{"ts 0", func(hd map[string]string) {
			hd["requestid"] = caller.encrypt(t, []byte(`{"ts":0,"appid":"a","uuid":"`+uuid.NewString()+`"}`))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, e := range []struct{ method, path string }{{http.MethodPost, fetch}, {http.MethodGet, "/servicekeys"}} {
				hd := caller.headers(t, h.license, apiRequestID(time.Now()))
				c.modify(hd)
				apiWantError(t, h.do(e.method, e.path, map[string]any{}, hd), http.StatusUnauthorized)
			}
		})
	}
	// A create with bad headers writes nothing.
	hd := caller.headers(t, h.license, apiRequestID(time.Now().Add(-time.Minute)))
	apiWantError(t, h.do(http.MethodPut, scope+"/webhook", apiMinimal("late"), hd), http.StatusUnauthorized)
	if p := apiFetch(h, h.license, scope, nil); p.Page.Total != 0 {
		t.Errorf("a rejected create went through: total %d", p.Page.Total)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestAuthReplayedRequestIsRejected(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	fetch := scope + "/webhooks/fetch"

	headers := h.authHeaders(h.license)
	if r := h.do(http.MethodPost, fetch, map[string]any{}, headers); r.Status != http.StatusOK {
		t.Fatalf("first use: %d %s", r.Status, r.Body)
	}
	apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, headers), http.StatusUnauthorized)
	// Replayed on a command, it creates nothing.
	apiWantError(t, h.do(http.MethodPut, scope+"/webhook", apiMinimal("replayed"), headers), http.StatusUnauthorized)
	if p := apiFetch(h, h.license, scope, nil); p.Page.Total != 0 {
		t.Errorf("a replayed create went through: total %d", p.Page.Total)
	}

	// The uuid is what counts: the same uuid under a fresh encryption and another ts is a replay.
	caller := apiNewCaller(t, h.servicePublicKey())
	rid := apiRequestID(time.Now())
	if r := h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, rid)); r.Status != http.StatusOK {
		t.Fatalf("first use: %d %s", r.Status, r.Body)
	}
	rid["ts"] = time.Now().Add(-5 * time.Second).Unix()
	apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, rid)), http.StatusUnauthorized)
	apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, apiNewCaller(t, h.servicePublicKey()).headers(t, h.license, rid)), http.StatusUnauthorized)

	// Of identical requests sent at once, exactly one passes.
	const n = 8
	same := h.authHeaders(h.license)
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			var r response
			r, errs[i] = apiTry(h, http.MethodPost, fetch, map[string]any{}, same)
			statuses[i] = r.Status
		})
	}
	close(start)
	wg.Wait()
	passed := 0
	for i, s := range statuses {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch s {
		case http.StatusOK:
			passed++
		case http.StatusUnauthorized:
		default:
			t.Errorf("identical request %d: %d", i, s)
		}
	}
	if passed != 1 {
		t.Errorf("%d of %d identical requests passed, want exactly 1", passed, n)
	}
}

func TestAuthRevokedLicenseIs401(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	key := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	apiCreate(h, key, scope, apiMinimal("before revocation"))

	if out, err := h.runCLI("license", "revoke", key); err != nil {
		t.Fatalf("license revoke: %v %s", err, out)
	}
	apiEventually(t, 30*time.Second, "the revoked license still works", func() bool {
		return h.as(key, http.MethodPost, scope+"/webhooks/fetch", nil).Status == http.StatusUnauthorized
	})
	apiWantError(t, h.as(key, http.MethodPost, scope+"/webhooks/fetch", nil), http.StatusUnauthorized)
	apiWantError(t, h.as(key, http.MethodPut, scope+"/webhook", apiMinimal("after revocation")), http.StatusUnauthorized)
	if p := apiFetch(h, h.license, scope, nil); p.Page.Total != 1 {
		t.Errorf("total %d, want only the webhook created before revocation", p.Page.Total)
	}
	// Revoking a key nobody issued fails; the system license is untouched.
	if _, err := h.runCLI("license", "revoke", "lic_00000000000000000000000000000000"); err == nil {
		t.Error("revoking an unknown key succeeded")
	}
	h.mustJSON(h.system(http.MethodGet, "/servicekeys", nil), http.StatusOK, nil)
}

func TestAuthLicenseScopes(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	tenantKey := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	communityKey := apiIssueLicense(h, "--level", "service_ext", "--tenant", "t1", "--community", "c1")
	anyKey := apiIssueLicense(h, "--level", "service")

	// A webhook in each scope, created by the system license.
	ids := map[string]string{}
	for _, s := range []string{apiScope("t1", "c1"), apiScope("t1", "c2"), apiScope("t2", "c1")} {
		ids[s] = apiCreate(h, h.license, s, apiMinimal("in "+s)).ID
	}
	allowed := map[string][]string{
		tenantKey:    {apiScope("t1", "c1"), apiScope("t1", "c2")},
		communityKey: {apiScope("t1", "c1")},
		anyKey:       {apiScope("t1", "c1"), apiScope("t1", "c2"), apiScope("t2", "c1")},
	}
	for key, scopes := range allowed {
		for _, s := range []string{apiScope("t1", "c1"), apiScope("t1", "c2"), apiScope("t2", "c1")} {
			ok := false
			for _, a := range scopes {
				ok = ok || a == s
			}
			id := ids[s]
			if ok {
				w := apiCreate(h, key, s, apiMinimal("by a scoped license"))
				if p := apiFetch(h, key, s, nil); p.Page.Total != 2 {
					t.Errorf("%s: fetch total %d, want 2", s, p.Page.Total)
				}
				h.mustJSON(h.as(key, http.MethodGet, s+"/webhook/"+id, nil), http.StatusOK, nil)
				h.mustJSON(h.as(key, http.MethodGet, s+"/webhook/"+id+"/history", nil), http.StatusOK, nil)
				h.mustJSON(h.as(key, http.MethodPatch, s+"/webhook/"+w.ID, map[string]any{"name": "renamed"}), http.StatusOK, nil)
				if r := h.as(key, http.MethodDelete, s+"/webhook/"+w.ID, nil); r.Status != http.StatusNoContent {
					t.Errorf("%s: delete %d %s", s, r.Status, r.Body)
				}
				continue
			}
			for _, e := range []struct {
				method, path string
				body         any
			}{
				{http.MethodPut, s + "/webhook", apiMinimal("forbidden")},
				{http.MethodPost, s + "/webhooks/fetch", map[string]any{}},
				{http.MethodGet, s + "/webhook/" + id, nil},
				{http.MethodGet, s + "/webhook/" + id + "/history", nil},
				{http.MethodPatch, s + "/webhook/" + id, map[string]any{"name": "forbidden"}},
				{http.MethodDelete, s + "/webhook/" + id, nil},
			} {
				r := h.as(key, e.method, e.path, e.body)
				if r.Status != http.StatusForbidden {
					t.Errorf("%s %s outside the license's scope: %d %s, want 403", e.method, e.path, r.Status, r.Body)
					continue
				}
				apiWantError(t, r, http.StatusForbidden)
			}
		}
	}
	// The forbidden requests changed nothing.
	for s, id := range ids {
		if types := apiHistoryTypes(h, s, id); len(types) != 1 {
			t.Errorf("%s: history %v, want only the creation", s, types)
		}
		if p := apiFetch(h, h.license, s, nil); p.Page.Total != 1 {
			t.Errorf("%s: %d webhooks, want 1: %v", s, p.Page.Total, apiNames(p))
		}
	}
}

func TestAuthServiceLevelsManageWebhooksButNotServiceKeys(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	keys := apiServiceKeys(h)
	publicKey := h.servicePublicKey()
	for _, level := range []string{"service", "service_ext"} {
		t.Run(level, func(t *testing.T) {
			key := apiIssueLicense(h, "--level", level)
			scope := apiScope("t-"+level, "c1")
			w := apiCreate(h, key, scope, apiMinimal(level))
			if p := apiFetch(h, key, scope, nil); p.Page.Total != 1 {
				t.Errorf("fetch total %d", p.Page.Total)
			}
			h.mustJSON(h.as(key, http.MethodGet, scope+"/webhook/"+w.ID, nil), http.StatusOK, nil)
			h.mustJSON(h.as(key, http.MethodPatch, scope+"/webhook/"+w.ID, map[string]any{"disabled": true}), http.StatusOK, nil)
			h.mustJSON(h.as(key, http.MethodGet, scope+"/webhook/"+w.ID+"/history", nil), http.StatusOK, nil)
			if r := h.as(key, http.MethodDelete, scope+"/webhook/"+w.ID, nil); r.Status != http.StatusNoContent {
				t.Errorf("delete: %d %s", r.Status, r.Body)
			}
			apiWantError(t, h.as(key, http.MethodGet, "/servicekeys", nil), http.StatusForbidden)
			for _, k := range keys {
				apiWantError(t, h.as(key, http.MethodDelete, "/servicekey/"+k.KeyID, nil), http.StatusForbidden)
			}
			if got := h.servicePublicKey(); got != publicKey {
				t.Errorf("a %s license reset the service key", level)
			}
			if got := apiServiceKeys(h); got["signing"] != keys["signing"] {
				t.Errorf("a %s license reset the signing key", level)
			}
		})
	}
}

// apiCanaryBody makes a webhook whose credential and secret are canaries.
func apiCanaryBody(name, password, secret string) map[string]any {
	b := apiMinimal(name)
	b["api"] = map[string]any{
		"url": "https://hooks.example.com/in", "authType": "basic",
		"credential": map[string]any{"username": "user-" + name, "password": password},
	}
	if secret != "" {
		b["secret"] = secret
	}
	return b
}

func TestAuthCredentialsAndSecretOnlyForSystem(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	service := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	const password, secret = "canary-password-3b1f9e", "canary-secret-77aa01"

	// The create response always carries the secret, given or generated.
	r := h.as(service, http.MethodPut, scope+"/webhook", apiCanaryBody("given", password, secret))
	var given apiWebhookJSON
	h.mustJSON(r, http.StatusOK, &given)
	if given.Secret == nil || *given.Secret != secret {
		t.Errorf("create by a service license answered secret %v, want %q", given.Secret, secret)
	}
	generated := apiCreate(h, service, scope, apiCanaryBody("generated", password, ""))
	if generated.Secret == nil || !strings.HasPrefix(*generated.Secret, "whsec_") {
		t.Errorf("create by a service license answered secret %v, want a generated whsec_ one", generated.Secret)
	}
	secrets := []string{password, secret, *generated.Secret}

	// Neither credential nor secret reaches a service license afterwards.
	noSecrets := func(what string, r response) {
		t.Helper()
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", what, r.Status, r.Body)
		}
		for _, s := range secrets {
			if strings.Contains(string(r.Body), s) {
				t.Errorf("%s shows %q to a service license: %s", what, s, r.Body)
			}
		}
		var items []map[string]any
		var page struct{ Data []map[string]any }
		if json.Unmarshal(r.Body, &page) == nil && page.Data != nil {
			items = page.Data
		} else {
			var one map[string]any
			_ = json.Unmarshal(r.Body, &one)
			items = []map[string]any{one}
		}
		for _, w := range items {
			if _, ok := w["secret"]; ok {
				t.Errorf("%s: secret present for a service license", what)
			}
			if api, _ := w["api"].(map[string]any); api != nil {
				if _, ok := api["credential"]; ok {
					t.Errorf("%s: api.credential present for a service license", what)
				}
			}
		}
	}
	noSecrets("fetch", h.as(service, http.MethodPost, scope+"/webhooks/fetch", nil))
	noSecrets("get", h.as(service, http.MethodGet, scope+"/webhook/"+given.ID, nil))
	noSecrets("patch", h.as(service, http.MethodPatch, scope+"/webhook/"+given.ID, map[string]any{"name": "renamed"}))
	// An update by a service license without the credential keeps it.
	noSecrets("patch api", h.as(service, http.MethodPatch, scope+"/webhook/"+given.ID, map[string]any{"api": map[string]any{"url": "https://hooks.example.com/moved"}}))
	// The history shows no secret to anyone.
	for _, key := range []string{service, h.license} {
		r := h.as(key, http.MethodGet, scope+"/webhook/"+given.ID+"/history", nil)
		for _, s := range secrets {
			if strings.Contains(string(r.Body), s) {
				t.Errorf("history shows %q", s)
			}
		}
	}

	// A system license sees both, unchanged by the service license's updates.
	p := apiFetch(h, h.license, scope, nil)
	if len(p.Data) != 2 {
		t.Fatalf("fetch: %d webhooks", len(p.Data))
	}
	for _, w := range append(p.Data, func() apiWebhookJSON {
		var one apiWebhookJSON
		h.mustJSON(h.system(http.MethodGet, scope+"/webhook/"+given.ID, nil), http.StatusOK, &one)
		return one
	}()) {
		if w.API.Credential == nil || w.API.Credential.Password != password || w.API.Credential.Username == "" {
			t.Errorf("%s: system license sees credential %+v, want the password", w.Name, w.API.Credential)
		}
		want := secret
		if w.ID == generated.ID {
			want = *generated.Secret
		}
		if w.Secret == nil || *w.Secret != want {
			t.Errorf("%s: system license sees secret %v, want %q", w.Name, w.Secret, want)
		}
	}
	// The answers cached for service licenses never take the system license's form.
	noSecrets("fetch after the system license's", h.as(service, http.MethodPost, scope+"/webhooks/fetch", nil))
	noSecrets("get after the system license's", h.as(service, http.MethodGet, scope+"/webhook/"+given.ID, nil))
}

// TestAuthOnlyValidLicensesUseUpTheUUID: the uuid of a request is recorded against replays only
// once its license is known and not revoked, so that strangers with their own key pairs cannot fill
// the replay cache. A request of an unknown or revoked license leaves its uuid to a valid one.
func TestAuthOnlyValidLicensesUseUpTheUUID(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	fetch := scope + "/webhooks/fetch"
	caller := apiNewCaller(t, h.servicePublicKey())
	const unknown = "lic_00000000000000000000000000000000"

	// An unknown license, again and again with one uuid: never a replay, always the unknown license.
	rid := apiRequestID(time.Now())
	unknownHeaders := caller.headers(t, unknown, rid)
	for range 3 {
		apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, unknownHeaders), http.StatusUnauthorized, "unknown license")
	}
	// The same uuid with a known license passes: the failed requests did not record it.
	valid := caller.headers(t, h.license, rid)
	if r := h.do(http.MethodPost, fetch, map[string]any{}, valid); r.Status != http.StatusOK {
		t.Fatalf("a known license with the uuid an unknown one used: %d %s", r.Status, r.Body)
	}
	// Replayed, the valid request is rejected, and so is its uuid under a fresh encryption.
	apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, valid), http.StatusUnauthorized, "uuid already used")
	apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, rid)), http.StatusUnauthorized, "uuid already used")
	// The license is looked up before the uuid: the unknown license still hears that it is unknown.
	apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, unknownHeaders), http.StatusUnauthorized, "unknown license")

	// A revoked license does not use up the uuid either.
	revoked := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	if out, err := h.runCLI("license", "revoke", revoked); err != nil {
		t.Fatalf("license revoke: %v %s", err, out)
	}
	apiEventually(t, 30*time.Second, "the revoked license still works", func() bool {
		return h.as(revoked, http.MethodPost, fetch, nil).Status == http.StatusUnauthorized
	})
	rid = apiRequestID(time.Now())
	for range 2 {
		apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, revoked, rid)), http.StatusUnauthorized, "revoked")
	}
	if r := h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, rid)); r.Status != http.StatusOK {
		t.Fatalf("a valid license with the uuid a revoked one used: %d %s", r.Status, r.Body)
	}
	apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, rid)), http.StatusUnauthorized, "uuid already used")
}

// TestAuthNonceForms: requestid's uuid is a single-use nonce of 1 to 128 printable characters, in
// whatever form the client makes them (the seed says only that it is a string).
func TestAuthNonceForms(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	fetch := apiScope("t1", "c1") + "/webhooks/fetch"
	caller := apiNewCaller(t, h.servicePublicKey())
	for _, id := range []string{
		uuid.NewString(), strings.ReplaceAll(uuid.NewString(), "-", ""), "01ARZ3NDEKTSV4RRFFQ69G5FAV",
		"request-1", "x", strings.Repeat("n", 128), "{" + uuid.NewString() + "}",
	} {
		rid := apiRequestID(time.Now())
		rid["uuid"] = id
		if r := h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, rid)); r.Status != http.StatusOK {
			t.Errorf("uuid %q: %d %s", id, r.Status, r.Body)
			continue
		}
		apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, rid)), http.StatusUnauthorized, "uuid already used")
	}
	for _, id := range []string{"", strings.Repeat("u", 129), "a\x00b", "a\r\nb", "tab\there"} {
		rid := apiRequestID(time.Now())
		rid["uuid"] = id
		want := "uuid must be 1 to 128 printable characters"
		if id == "" {
			want = "missing uuid"
		}
		apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, rid)), http.StatusUnauthorized, want)
	}
}

// TestLicenseQuota: one license that hammers the API gets 429s, with Retry-After and a message that
// names the quota, while another license's requests all pass.
func TestLicenseQuota(t *testing.T) {
	t.Parallel()
	// One request per 100 s after a burst of 5: the test never lasts long enough for a refill.
	h := startHookd(t, map[string]string{"HOOKD_LICENSE_RATE": "0.01", "HOOKD_LICENSE_BURST": "5"})
	fetch := apiScope("t1", "c1") + "/webhooks/fetch"
	other := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	var wg sync.WaitGroup
	statuses := make(chan response, 20)
	for range 20 {
		wg.Go(func() { statuses <- h.system(http.MethodPost, fetch, map[string]any{}) })
	}
	// The other license's requests, sent while the first hammers, all pass (apiIssueLicense used
	// one of its five).
	for i := range 4 {
		if r := h.as(other, http.MethodPost, fetch, map[string]any{}); r.Status != http.StatusOK {
			t.Errorf("the other license's request %d: %d %s", i, r.Status, r.Body)
		}
	}
	wg.Wait()
	close(statuses)
	passed, limited := 0, 0
	for r := range statuses {
		switch r.Status {
		case http.StatusOK:
			passed++
		case http.StatusTooManyRequests:
			limited++
			apiWantError(t, r, http.StatusTooManyRequests, "quota of 0.01 requests per second (bursts of 5)")
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 100 {
				t.Errorf("Retry-After %q, want the seconds until the next token (1 to 100)", r.Header.Get("Retry-After"))
			}
		default:
			t.Errorf("hammering license: %d %s", r.Status, r.Body)
		}
	}
	if passed != 5 || limited != 15 {
		t.Errorf("of 20 requests at once, %d passed and %d were 429; want the burst of 5 and 15", passed, limited)
	}
	apiWantError(t, h.as(other, http.MethodPost, fetch, map[string]any{}), http.StatusTooManyRequests, "quota")

	// A request over the quota takes no place in the replay cache: its uuid is still free.
	caller := apiNewCaller(t, h.servicePublicKey())
	rid := apiRequestID(time.Now())
	apiWantError(t, h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, h.license, rid)), http.StatusTooManyRequests, "quota")
	third := apiIssueLicense(h, "--level", "service", "--tenant", "t1")
	if r := h.do(http.MethodPost, fetch, map[string]any{}, caller.headers(t, third, rid)); r.Status != http.StatusOK {
		t.Errorf("the uuid of a request refused for its quota, with another license: %d %s", r.Status, r.Body)
	}
}

// TestRequestIDsOutliveARestart: the replay cache lives in memory, so a restarted server refuses the
// request ids made before its start; headers captured and used before a restart are not accepted
// again after it. Those made after the restart pass at once.
func TestRequestIDsOutliveARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startHookdIn(t, dir, nil)
	fetch := apiScope("t1", "c1") + "/webhooks/fetch"
	captured := first.authHeaders(first.license)
	if r := first.do(http.MethodPost, fetch, map[string]any{}, captured); r.Status != http.StatusOK {
		t.Fatalf("first use: %d %s", r.Status, r.Body)
	}
	apiWantError(t, first.do(http.MethodPost, fetch, map[string]any{}, captured), http.StatusUnauthorized, "uuid already used")
	// A request id made before the restart and never used is refused too: the server cannot tell.
	caller := apiNewCaller(t, first.servicePublicKey())
	unused := caller.headers(t, first.license, apiRequestID(time.Now()))
	first.stop()

	second := startHookdIn(t, dir, nil)
	apiWantError(t, second.do(http.MethodPost, fetch, map[string]any{}, captured), http.StatusUnauthorized, "before this server started")
	apiWantError(t, second.do(http.MethodPost, fetch, map[string]any{}, unused), http.StatusUnauthorized, "before this server started")
	for i := range 3 {
		if r := second.system(http.MethodPost, fetch, map[string]any{}); r.Status != http.StatusOK {
			t.Fatalf("fresh request %d after the restart: %d %s", i, r.Status, r.Body)
		}
	}
}
