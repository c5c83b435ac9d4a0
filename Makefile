# etcdboot — `make demo` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
ETCD_VERSION ?= v3.6.16
GO ?= go
BIN := $(CURDIR)/bin
# End-to-end tests fail instead of skipping when they cannot run (CI sets 1).
ETCDBOOT_E2E_REQUIRED ?= 1
export ETCDBOOT_E2E_REQUIRED
export ETCDBOOT_BIN := $(BIN)
UNIT_PKGS = $$($(GO) list ./... | grep -v /e2e)

.PHONY: all deps etcd build test unit e2e lint fmt bench fuzz demo clean

all: build

deps:
	@scripts/deps.sh

etcd:
	@scripts/build-etcd.sh $(ETCD_VERSION)

build:
	$(GO) build -o $(BIN)/etcdboot ./cmd/etcdboot
	$(GO) build -o $(BIN)/etcdboot-agent ./cmd/etcdboot-agent

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

unit:
	$(GO) test -count=1 $(UNIT_PKGS)

e2e: build
	$(GO) test -count=1 -p 1 -timeout 25m ./e2e/...

test: deps etcd build lint unit e2e

bench: deps etcd build
	$(GO) test -run '^$$' -bench . -benchtime 3x -benchmem $(UNIT_PKGS)
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 20m ./e2e/...

fuzz:
	$(GO) test ./spec -run '^$$' -fuzz FuzzParseCluster -fuzztime 30s
	$(GO) test ./spec -run '^$$' -fuzz FuzzParseNodePayload -fuzztime 30s

demo: deps etcd build
	$(GO) run ./e2e/demo -bin $(BIN)

clean:
	rm -rf out/ .cache/
