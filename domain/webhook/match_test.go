package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/hookd/hookd/domain/webhook"
	"github.com/hookd/hookd/internal/testvectors"
)

// decodeBoth decodes a JSON payload twice, as encoding/json gives it with and without UseNumber, so
// that every case runs against float64 numbers and against json.Number.
func decodeBoth(t testing.TB, raw string) map[string]any {
	t.Helper()
	var plain any
	if err := json.Unmarshal([]byte(raw), &plain); err != nil {
		t.Fatalf("payload %s: %v", raw, err)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.UseNumber()
	var numbers any
	if err := dec.Decode(&numbers); err != nil {
		t.Fatalf("payload %s: %v", raw, err)
	}
	return map[string]any{"float64": plain, "json.Number": numbers}
}

func matcher(criteria webhook.Criteria, query ...webhook.QueryEntry) webhook.Settings {
	return webhook.Settings{EventNames: []string{"E_ONE", "E_TWO"}, Query: query, Criteria: criteria}
}

func entry(key string, value any) webhook.QueryEntry {
	return webhook.QueryEntry{Key: key, Value: value}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	any1 := func(key string, value any) webhook.Settings { return matcher(webhook.CriteriaAny, entry(key, value)) }
	const nested = `{"a":{"b":{"c":"deep","n":7}},"top":"t","list":[{"b":"x"}],"obj":{"0":"zero"},"s":"text",
		"":{"b":"empty key"},"a.b":"dotted"}`
	const values = `{"int":42,"frac":1.5,"exp":1E3,"negzero":-0.0,"big":10000000000000000000000,"str1":"1",
		"one":1,"t":true,"f":false,"strtrue":"true","null":null,"empty":"","arr":[1],"obj":{}}`
	tests := []struct {
		name     string
		settings webhook.Settings
		event    string
		payload  string
		want     bool
	}{
		// Paths.
		{"top-level key", any1("top", "t"), "E_ONE", nested, true},
		{"nested path", any1("a.b.c", "deep"), "E_ONE", nested, true},
		{"nested path, other value", any1("a.b.c", "shallow"), "E_ONE", nested, false},
		{"nested number", any1("a.b.n", 7.0), "E_ONE", nested, true},
		{"missing leaf", any1("a.b.missing", "deep"), "E_ONE", nested, false},
		{"missing middle", any1("a.x.c", "deep"), "E_ONE", nested, false},
		{"missing top", any1("nope", "deep"), "E_ONE", nested, false},
		{"path through a string", any1("s.length", 4.0), "E_ONE", nested, false},
		{"path through an array", any1("list.b", "x"), "E_ONE", nested, false},
		{"numeric segment never indexes an array", any1("list.0.b", "x"), "E_ONE", nested, false},
		{"numeric segment is an object key", any1("obj.0", "zero"), "E_ONE", nested, true},
		{"path stops at an object", any1("a.b", "deep"), "E_ONE", nested, false},
		{"key with a dot cannot be addressed", any1("a.b", "dotted"), "E_ONE", nested, false},
		{"empty segment is the empty key", any1(".b", "empty key"), "E_ONE", nested, true},
		{"trailing dot needs an object under top", any1("top.", "t"), "E_ONE", nested, false},
		{"empty key", any1("", "t"), "E_ONE", nested, false},

		// Numbers.
		{"int-like number", any1("int", 42.0), "E_ONE", values, true},
		{"int-like number, other value", any1("int", 43.0), "E_ONE", values, false},
		{"fractional number", any1("frac", 1.5), "E_ONE", values, true},
		{"fractional number, close but not equal", any1("frac", 1.5000000001), "E_ONE", values, false},
		{"fractional payload, int-like entry", any1("frac", 1.0), "E_ONE", values, false},
		{"exponent form", any1("exp", 1000.0), "E_ONE", values, true},
		{"negative zero equals zero", any1("negzero", 0.0), "E_ONE", values, true},
		{"large number", any1("big", 1e22), "E_ONE", values, true},
		{"number entry, string payload of the same text", any1("str1", 1.0), "E_ONE", values, false},
		{"string entry, number payload of the same text", any1("one", "1"), "E_ONE", values, false},
		{"number entry, bool payload", any1("t", 1.0), "E_ONE", values, false},
		{"number entry, array payload", any1("arr", 1.0), "E_ONE", values, false},
		{"int entry value is not a JSON number", any1("one", 1), "E_ONE", values, false},

		// Booleans.
		{"true", any1("t", true), "E_ONE", values, true},
		{"false", any1("f", false), "E_ONE", values, true},
		{"true entry, false payload", any1("f", true), "E_ONE", values, false},
		{"bool entry, string payload of the same text", any1("strtrue", true), "E_ONE", values, false},
		{"string entry, bool payload of the same text", any1("t", "true"), "E_ONE", values, false},
		{"bool entry, number payload", any1("one", true), "E_ONE", values, false},
		{"false entry, missing key", any1("missing", false), "E_ONE", values, false},

		// Strings.
		{"empty string", any1("empty", ""), "E_ONE", values, true},
		{"empty string entry, missing key", any1("missing", ""), "E_ONE", values, false},
		{"string entry, object payload", any1("obj", "{}"), "E_ONE", values, false},

		// Null.
		{"null payload, string entry", any1("null", "null"), "E_ONE", values, false},
		{"null payload, empty string entry", any1("null", ""), "E_ONE", values, false},
		{"null payload, zero entry", any1("null", 0.0), "E_ONE", values, false},
		{"null payload, false entry", any1("null", false), "E_ONE", values, false},
		{"null entry, null payload", any1("null", nil), "E_ONE", values, false},
		{"null entry, missing key", any1("missing", nil), "E_ONE", values, false},
		{"null payload at a path's middle", any1("null.x", "x"), "E_ONE", values, false},

		// Criteria.
		{"ANY, first of two matches", matcher(webhook.CriteriaAny, entry("t", true), entry("one", 2.0)), "E_ONE", values, true},
		{"ANY, last of two matches", matcher(webhook.CriteriaAny, entry("t", false), entry("one", 1.0)), "E_ONE", values, true},
		{"ANY, none matches", matcher(webhook.CriteriaAny, entry("t", false), entry("one", 2.0)), "E_ONE", values, false},
		{"ALL, every one matches", matcher(webhook.CriteriaAll, entry("t", true), entry("one", 1.0), entry("empty", "")), "E_ONE", values, true},
		{"ALL, one fails", matcher(webhook.CriteriaAll, entry("t", true), entry("one", 2.0), entry("empty", "")), "E_ONE", values, false},
		{"ALL, a missing key fails", matcher(webhook.CriteriaAll, entry("t", true), entry("missing", "x")), "E_ONE", values, false},
		{"ALL, none matches", matcher(webhook.CriteriaAll, entry("t", false), entry("one", 2.0)), "E_ONE", values, false},
		{"unset criteria is ANY", matcher(webhook.Criteria{}, entry("t", false), entry("one", 1.0)), "E_ONE", values, true},
		{"unset criteria, none matches", matcher(webhook.Criteria{}, entry("t", false)), "E_ONE", values, false},

		// Empty query.
		{"empty query, ANY", matcher(webhook.CriteriaAny), "E_ONE", values, true},
		{"empty query, ALL", matcher(webhook.CriteriaAll), "E_ONE", values, true},
		{"empty query, unset criteria", matcher(webhook.Criteria{}), "E_TWO", values, true},
		{"empty query, null payload", matcher(webhook.CriteriaAny), "E_ONE", `null`, true},
		{"empty query, array payload", matcher(webhook.CriteriaAll), "E_ONE", `[1,2]`, true},

		// Payloads that are no object.
		{"array payload", any1("0", 1.0), "E_ONE", `[1]`, false},
		{"string payload", any1("x", "x"), "E_ONE", `"x"`, false},
		{"null payload", any1("x", "x"), "E_ONE", `null`, false},

		// Event names.
		{"second event name", any1("t", true), "E_TWO", values, true},
		{"event name not listed", any1("t", true), "E_THREE", values, false},
		{"event name differs in case", any1("t", true), "e_one", values, false},
		{"empty event name", matcher(webhook.CriteriaAny), "", values, false},
		{"no event names", webhook.Settings{Criteria: webhook.CriteriaAny}, "E_ONE", values, false},
		{"event name not listed, empty query", matcher(webhook.CriteriaAll), "E_THREE", values, false},
	}
	for _, tc := range tests {
		for form, payload := range decodeBoth(t, tc.payload) {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				t.Parallel()
				if got := tc.settings.Matches(tc.event, payload); got != tc.want {
					t.Errorf("Matches(%q, %s) with query %+v, criteria %v = %v, want %v",
						tc.event, tc.payload, tc.settings.Query, tc.settings.Criteria, got, tc.want)
				}
			})
		}
	}
}

// TestMatchesJSONNumberForms covers json.Number values that no decoder would produce but that code
// can build by hand: only those strconv.ParseFloat reads as a finite float64 are numbers.
func TestMatchesJSONNumberForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		number json.Number
		entry  any
		want   bool
	}{
		{"42", 42.0, true},
		{"42.0", 42.0, true},
		{"4.2e1", 42.0, true},
		{"0.1", 0.1, true},
		{"-7", -7.0, true},
		{"42", "42", false},
		{"", 0.0, false},
		{"abc", 0.0, false},
		{"1e400", math.MaxFloat64, false},
		{"Inf", math.Inf(1), false},
		{"NaN", math.NaN(), false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q=%v", string(tc.number), tc.entry), func(t *testing.T) {
			t.Parallel()
			s := matcher(webhook.CriteriaAny, entry("n", tc.entry))
			if got := s.Matches("E_ONE", map[string]any{"n": tc.number}); got != tc.want {
				t.Errorf("Matches with payload n=json.Number(%q), entry %v = %v, want %v", tc.number, tc.entry, got, tc.want)
			}
		})
	}
}

// TestMatchesNaNEntry: NaN equals nothing, not even a NaN in the payload (Validate refuses NaN entries).
func TestMatchesNaNEntry(t *testing.T) {
	t.Parallel()
	s := matcher(webhook.CriteriaAny, entry("n", math.NaN()))
	if s.Matches("E_ONE", map[string]any{"n": math.NaN()}) {
		t.Error("a NaN entry matched")
	}
}

// cosmoVectors is the part of cosmo-signature.json that matching uses.
type cosmoVectors struct {
	Cases []struct {
		Name        string `json:"name"`
		Event       string `json:"event"`
		PayloadJSON string `json:"payload_json"`
	} `json:"cases"`
}

// TestMatchesCosmoPerGraphFilter is how Cosmo filters FEDERATED_GRAPH_SCHEMA_UPDATED to one graph:
// the query [{"federated_graph.id": "graph123"}] with ANY, against the schema-updated payload of the
// shared vectors.
func TestMatchesCosmoPerGraphFilter(t *testing.T) {
	t.Parallel()
	var v cosmoVectors
	testvectors.Load(t, "cosmo-signature.json", &v)
	var payloadJSON string
	for _, c := range v.Cases {
		if c.Event == "FEDERATED_GRAPH_SCHEMA_UPDATED" {
			payloadJSON = c.PayloadJSON
		}
	}
	if payloadJSON == "" {
		t.Fatal("cosmo-signature.json has no FEDERATED_GRAPH_SCHEMA_UPDATED case")
	}
	graph := func(id string) webhook.Settings {
		return webhook.Settings{
			EventNames: []string{"FEDERATED_GRAPH_SCHEMA_UPDATED"},
			Query:      []webhook.QueryEntry{{Key: "federated_graph.id", Value: id}},
			Criteria:   webhook.CriteriaAny,
		}
	}
	tests := []struct {
		name     string
		settings webhook.Settings
		event    string
		want     bool
	}{
		{"the graph", graph("graph123"), "FEDERATED_GRAPH_SCHEMA_UPDATED", true},
		{"another graph", graph("graph456"), "FEDERATED_GRAPH_SCHEMA_UPDATED", false},
		{"the graph, another event", graph("graph123"), "APOLLO_MIGRATE_SUCCESS", false},
		{"every graph", webhook.Settings{
			EventNames: []string{"FEDERATED_GRAPH_SCHEMA_UPDATED"}, Query: []webhook.QueryEntry{}, Criteria: webhook.CriteriaAny,
		}, "FEDERATED_GRAPH_SCHEMA_UPDATED", true},
		{"the graph and no errors, ALL", webhook.Settings{
			EventNames: []string{"FEDERATED_GRAPH_SCHEMA_UPDATED"},
			Query:      []webhook.QueryEntry{{Key: "federated_graph.id", Value: "graph123"}, {Key: "errors", Value: false}},
			Criteria:   webhook.CriteriaAll,
		}, "FEDERATED_GRAPH_SCHEMA_UPDATED", true},
		{"the graph in another namespace, ALL", webhook.Settings{
			EventNames: []string{"FEDERATED_GRAPH_SCHEMA_UPDATED"},
			Query: []webhook.QueryEntry{
				{Key: "federated_graph.id", Value: "graph123"}, {Key: "federated_graph.namespace", Value: "prod"},
			},
			Criteria: webhook.CriteriaAll,
		}, "FEDERATED_GRAPH_SCHEMA_UPDATED", false},
	}
	for _, tc := range tests {
		for form, payload := range decodeBoth(t, payloadJSON) {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				t.Parallel()
				if got := tc.settings.Matches(tc.event, payload); got != tc.want {
					t.Errorf("Matches(%q) with query %+v = %v, want %v", tc.event, tc.settings.Query, got, tc.want)
				}
			})
		}
	}
}

// TestMatchesAcceptsAMap: a map[string]any payload is passed as it is.
func TestMatchesAcceptsAMap(t *testing.T) {
	t.Parallel()
	s := matcher(webhook.CriteriaAll, entry("a.b", "x"))
	if !s.Matches("E_ONE", map[string]any{"a": map[string]any{"b": "x"}}) {
		t.Error("a map[string]any payload did not match")
	}
}

// TestMatchesDoesNotAllocate: matching runs once per webhook per event, so it must stay cheap. It is
// not parallel: AllocsPerRun counts every goroutine's allocations.
func TestMatchesDoesNotAllocate(t *testing.T) {
	s, payload := benchmarkMatch(t)
	if allocs := testing.AllocsPerRun(100, func() { s.Matches("E_ONE", payload) }); allocs != 0 {
		t.Errorf("Matches allocates %v times per call, want 0", allocs)
	}
}

// benchmarkMatch returns settings with ten entries under ALL, every one matching, so that Matches
// walks them all, and a payload of both number forms at three levels.
func benchmarkMatch(tb testing.TB) (webhook.Settings, any) {
	tb.Helper()
	var payload any
	dec := json.NewDecoder(bytes.NewReader([]byte(`{
		"federated_graph":{"id":"graph123","name":"MainGraph","namespace":"default","labels":{"team":"core","tier":1}},
		"errors":false,"actor_id":"user5678","count":42,"ratio":0.25,"meta":{"source":{"region":"eu-west-1"}}}`)))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil {
		tb.Fatal(err)
	}
	s := webhook.Settings{
		EventNames: []string{"E_ZERO", "E_ONE"},
		Query: []webhook.QueryEntry{
			{Key: "federated_graph.id", Value: "graph123"},
			{Key: "federated_graph.name", Value: "MainGraph"},
			{Key: "federated_graph.namespace", Value: "default"},
			{Key: "federated_graph.labels.team", Value: "core"},
			{Key: "federated_graph.labels.tier", Value: 1.0},
			{Key: "errors", Value: false},
			{Key: "actor_id", Value: "user5678"},
			{Key: "count", Value: 42.0},
			{Key: "ratio", Value: 0.25},
			{Key: "meta.source.region", Value: "eu-west-1"},
		},
		Criteria: webhook.CriteriaAll,
	}
	if !s.Matches("E_ONE", payload) {
		tb.Fatal("the benchmark's settings do not match its payload")
	}
	return s, payload
}

func BenchmarkMatches10Entries(b *testing.B) {
	s, payload := benchmarkMatch(b)
	b.ReportAllocs()
	for b.Loop() {
		if !s.Matches("E_ONE", payload) {
			b.Fatal("no match")
		}
	}
}
