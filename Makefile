# hookd's everyday targets. `make run` starts hookd on the embedded default; `make test` is what CI runs.
GO       ?= go
BIN      := bin/hookd
COMMIT   := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
TAG      := $(shell git describe --tags --exact-match 2>/dev/null)
EPOCH    := $(shell date +%s)
LDFLAGS  := -X main.gitCommit=$(COMMIT) -X main.gitTag=$(TAG) -X main.buildEpoch=$(EPOCH)
# Benchmarks measured by `make bench`; BENCHTIME trades precision for time, and BENCH_DURATION is
# how long each delivery load runs (the goal is stated for 60 s).
BENCHTIME ?= 3s
BENCH_DURATION ?= 60s

# Flags of `make bench-e2e` (go run ./cmd/hookd-bench -h lists them all).
BENCH_E2E_FLAGS ?= -c 64 -duration 60s
# Flags of `make bench-cluster`: -nodes (1 to 3 hookd nodes), and the load as for bench-e2e.
BENCH_CLUSTER_FLAGS ?= -nodes 3 -rate 500 -duration 30s

# How much `make test` fuzzes each target (see fuzz), as a count of executions: a duration would
# race Go 1.26's fuzzing coordinator at its deadline, which fails a run with a bare "context deadline
# exceeded" and no failing input on a loaded machine (golang/go#75804, fixed in Go 1.27). The counts
# take about 10 to 20 s each on this 2-core machine.
FUZZ_BODY_EXECS ?= 150000x
FUZZ_AUTH_EXECS ?= 150000x
FUZZ_DECODE_EXECS ?= 100000x
FUZZ_LOG_EXECS ?= 100000x

.PHONY: run build test fuzz bench bench-delivery bench-e2e bench-cluster receiving-examples lint fmt clean

run: build
	$(BIN) serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/hookd

test: fuzz
	$(GO) test -race -count=1 -timeout 12m ./...

# Fuzz where input crosses a trust boundary, beyond the seed corpora that every `go test` runs (one
# -fuzz target per run): whatever publish accepts, the body builder delivers as JSON.parse reads it;
# whatever authentication headers anyone sends, Verify accepts only what the API relies on; whatever
# body a publisher sends, the quick decode of the plain shape reads it as the strict decode does;
# whatever a damaged log file holds in a row, reading it gives what was appended or an error.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzPublishedPayloadBody$$' -fuzztime $(FUZZ_BODY_EXECS) ./adapters/webhooksig/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZ_AUTH_EXECS) ./adapters/kosmosauth/
	$(GO) test -run '^$$' -fuzz '^FuzzPublishBody$$' -fuzztime $(FUZZ_DECODE_EXECS) ./adapters/httpapi/
	$(GO) test -run '^$$' -fuzz '^FuzzUnpackEvent$$' -fuzztime $(FUZZ_LOG_EXECS) ./adapters/eventstore/sqlitestore/

bench:
	HOOKD_BENCH_DURATION=$(BENCH_DURATION) $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./...

# The delivery load alone: hookd on the embedded default, a receiver on 127.0.0.1 that verifies
# every signature, and a load generator; deliveries/s, latency percentiles, peak RSS.
bench-delivery:
	HOOKD_BENCH_DURATION=$(BENCH_DURATION) $(GO) test -run '^$$' -bench BenchmarkDelivery -benchtime 1x -timeout 30m ./cmd/hookd/

# Throughput as users see it: hookd serve as its own process, and a second process that publishes with
# real 1Kosmos headers and receives with every signature verified (docs/benchmarks.md).
bench-e2e: build
	$(GO) run ./cmd/hookd-bench -bin $(BIN) $(BENCH_E2E_FLAGS)

# The cluster profile end to end: the KurrentDB test server and a 3-server NATS cluster in a process
# of their own (hookd-bench services), N hookd serve nodes on them, the same load and receiver as
# bench-e2e; figures per node (docs/benchmarks.md, "Cluster profile").
bench-cluster: build
	$(GO) run ./cmd/hookd-bench -bin $(BIN) $(BENCH_CLUSTER_FLAGS)

# The Node and Python examples of docs/receiving.md, on a delivery signed now by hookd's signer. Needs
# Node with npm (standardwebhooks is fetched into a temporary directory) and python3; the official
# Python library runs only where it is installed, the standard-library verification always.
receiving-examples:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) run ./docs/receiving/sign > "$$tmp/delivery.json" && \
	cp docs/receiving/verify.cjs "$$tmp/" && \
	(cd "$$tmp" && npm install --no-save --no-audit --no-fund --silent standardwebhooks@1.1.1) && \
	node "$$tmp/verify.cjs" "$$tmp/delivery.json" && \
	python3 docs/receiving/verify_stdlib.py "$$tmp/delivery.json" && \
	if python3 -c 'import standardwebhooks' 2>/dev/null; then \
		python3 docs/receiving/verify.py "$$tmp/delivery.json"; \
	else \
		echo "python: the official standardwebhooks package is not installed here; ran the standard-library verification only"; \
	fi

lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
