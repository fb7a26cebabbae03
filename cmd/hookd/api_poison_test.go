package main

// Component tests of the payload rules at every door an event comes in by: publish (one event and a
// batch), platform events and the match dry run, against the real server.

import (
	"net/http"
	"strings"
	"testing"
)

// Each payload the issue found accepted and then undeliverable, or that JSON.parse would not read
// back as published, is 400 everywhere, naming the place and the rule, and appends nothing.
func TestPoisonPayloadsAreRefusedAtEveryDoor(t *testing.T) {
	t.Parallel()
	h := startHookd(t, nil)
	scope := apiScope("t1", "c1")
	apiCreate(h, h.license, scope, apiListening("listens to P", []string{"P", "USER_REGISTER_SUCCESS"}, nil, ""))
	before := apiLogPosition(h)

	deep := `{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`
	for _, c := range []struct {
		name, payload, mention string
	}{
		{"600 deep", deep, "payload.a" + strings.Repeat("[0]", 63) + " is nested deeper than 64 levels"},
		{"invalid UTF-8", `{"a":"` + "\xff" + `"}`, "payload.a holds a string that is not valid UTF-8"},
		{"lone surrogate", `{"a":{"b c":["\ud800"]}}`, `payload.a["b c"][0] holds a lone UTF-16 surrogate \ud800`},
		{"out of range", `{"n":-1e400}`, "payload.n holds the number -1e400, out of the range of a double"},
	} {
		t.Run(c.name, func(t *testing.T) {
			event := `{"eventName":"P","payload":` + c.payload + `}`
			apiWantError(t, h.system(http.MethodPost, scope+"/events", []byte(event)), http.StatusBadRequest, c.mention)
			batch := `[{"eventName":"P","payload":{}},` + event + `]`
			apiWantError(t, h.system(http.MethodPost, scope+"/events", []byte(batch)), http.StatusBadRequest, "events[1]."+c.mention)
			platformEvent := `{"event":"USER_REGISTER_SUCCESS","payload":` + c.payload + `}`
			apiWantError(t, h.system(http.MethodPost, "/platform/events", []byte(platformEvent)), http.StatusBadRequest, c.mention)
			apiWantError(t, h.system(http.MethodPost, scope+"/webhooks/match", []byte(event)), http.StatusBadRequest, c.mention)
		})
	}
	apiWantNothingAppended(t, h, before)
}
