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

# How long `make test` fuzzes the payload rules against the body builder (beyond the seed corpus,
# which every `go test` runs).
FUZZTIME ?= 15s

.PHONY: run build test fuzz bench bench-delivery lint fmt clean

run: build
	$(BIN) serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/hookd

test: fuzz
	$(GO) test -race -count=1 -timeout 12m ./...

# Whatever publish accepts, the body builder delivers as JSON.parse reads it (one -fuzz target per run).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzPublishedPayloadBody$$' -fuzztime $(FUZZTIME) ./adapters/webhooksig/

bench:
	HOOKD_BENCH_DURATION=$(BENCH_DURATION) $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 60m ./...

# The delivery load alone: hookd on the embedded default, a receiver on 127.0.0.1 that verifies
# every signature, and a load generator; deliveries/s, latency percentiles, peak RSS.
bench-delivery:
	HOOKD_BENCH_DURATION=$(BENCH_DURATION) $(GO) test -run '^$$' -bench BenchmarkDelivery -benchtime 1x -timeout 30m ./cmd/hookd/

lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
