package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeadersCommandAuthenticatesARequest takes `hookd headers` output as curl would ("-H name:value"
// words) and sends it: the request is authenticated. A second use of the same output is a replay.
func TestHeadersCommandAuthenticatesARequest(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	out, err := h.runCLI("headers", "--license", h.license, "--url", h.url)
	if err != nil {
		t.Fatalf("headers: %v", err)
	}
	words := strings.Fields(out)
	headers := map[string]string{}
	for i := 0; i+1 < len(words); i += 2 {
		if words[i] != "-H" {
			t.Fatalf("word %d is %q, want -H: %s", i, words[i], out)
		}
		name, value, ok := strings.Cut(words[i+1], ":")
		if !ok {
			t.Fatalf("%q is not name:value", words[i+1])
		}
		headers[name] = value
	}
	if len(headers) != 3 {
		t.Fatalf("headers printed %d headers, want publickey, licensekey and requestid: %s", len(headers), out)
	}
	path := apiScope("t1", "c1") + "/webhooks/fetch"
	h.mustJSON(h.do(http.MethodPost, path, "{}", headers), http.StatusOK, nil)
	apiWantError(t, h.do(http.MethodPost, path, "{}", headers), http.StatusUnauthorized, "replay")

	if _, err := h.runCLI("headers"); err == nil || !strings.Contains(err.Error(), "--license") {
		t.Fatalf("headers without --license: %v, want an error naming --license", err)
	}
}
