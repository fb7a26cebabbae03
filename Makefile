# hookd's everyday targets. `make run` starts hookd on the embedded default; `make test` is what CI runs.
GO       ?= go
BIN      := bin/hookd
COMMIT   := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
TAG      := $(shell git describe --tags --exact-match 2>/dev/null)
EPOCH    := $(shell date +%s)
LDFLAGS  := -X main.gitCommit=$(COMMIT) -X main.gitTag=$(TAG) -X main.buildEpoch=$(EPOCH)
# Benchmarks measured by `make bench`; BENCHTIME trades precision for time.
BENCHTIME ?= 3s

.PHONY: run build test bench lint fmt clean

run: build
	$(BIN) serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/hookd

test:
	$(GO) test -race -count=1 -timeout 12m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 30m ./...

lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
