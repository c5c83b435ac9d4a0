# etcdboot — `make demo` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
# ETCD_VERSION is the default etcd (bin/etcd, bin/etcdctl, bin/etcdutl);
# ETCD_VERSIONS is the matrix the tests run, each in bin/etcd-VERSION/.
ETCD_VERSION ?= v3.6.16
ETCD_VERSIONS ?= v3.5.27 v3.6.16 v3.7.3
IGNITION_VERSION ?= v2.24.0
GO ?= go
BIN := $(CURDIR)/bin
# End-to-end tests fail instead of skipping when they cannot run (CI sets 1).
ETCDBOOT_E2E_REQUIRED ?= 1
export ETCDBOOT_E2E_REQUIRED
export ETCDBOOT_BIN := $(BIN)
UNIT_PKGS = $$($(GO) list ./... | grep -v /e2e)
PACKER_VERSION ?= v1.9.4
PACKER := $(BIN)/packer
# Packer plugins are installed here rather than in ~/.config/packer.
export PACKER_PLUGIN_PATH ?= $(CURDIR)/.cache/packer-plugins
export CHECKPOINT_DISABLE := 1

.PHONY: all deps etcd ignition build test unit e2e e2e-image e2e-vm lint fmt bench bench-image fuzz demo clean packer plugin plugin-generate plugin-test plugin-acc plugin-install-path packer-validate image

all: build

deps:
	@scripts/deps.sh

etcd:
	@scripts/build-etcd.sh --default $(ETCD_VERSION) $(ETCD_VERSIONS)

# SeaweedFS's weed, the real S3-compatible server of the object-store tests
# (internal/s3test), in bin/seaweedfs-VERSION/: built from the module proxy
# once per machine (about 11 minutes on 2 cores), then found there.
SEAWEEDFS_VERSION ?= v0.0.0-20261109003541-7506e5f91cd6
.PHONY: seaweedfs
seaweedfs:
	@scripts/build-seaweedfs.sh $(SEAWEEDFS_VERSION)

# CoreOS Ignition's own binary, for the image tests' Ignition path.
ignition: deps
	@scripts/build-ignition.sh $(IGNITION_VERSION)

# Release builds. VERSION is stamped into internal/version ("dev" adds the VCS
# revision). The tags cut what the binaries link without a feature lost:
# grpcnotrace leaves out gRPC's x/net/trace, whose html/template makes the
# linker keep every exported method of every linked type (23 MB of the
# agent); disable_grpc_modules leaves out the Cloud Storage client's
# DirectPath (gRPC xDS and RLS, 5 MB more), gs:// targets use its HTTP API;
# arrow_json_stdlib has apache/arrow-go (linked by the azblob client, for
# blob queries azblob:// targets never make) use encoding/json, not
# goccy/go-json (1.3 MB). Together: agent 65.2 -> 36.2 MB
# (BenchmarkAgentBinarySize).
VERSION ?= dev
BUILD_TAGS ?= grpcnotrace,disable_grpc_modules,arrow_json_stdlib
BUILD_FLAGS = -trimpath -tags '$(BUILD_TAGS)' -ldflags '-s -w -X github.com/etcdboot/etcdboot/internal/version.Version=$(VERSION)'
build:
	$(GO) build $(BUILD_FLAGS) -o $(BIN)/etcdboot ./cmd/etcdboot
	$(GO) build $(BUILD_FLAGS) -o $(BIN)/etcdboot-agent ./cmd/etcdboot-agent

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...

unit:
	$(GO) test -count=1 $(UNIT_PKGS)

e2e: build seaweedfs
	$(GO) test -count=1 -p 1 -timeout 45m $$($(GO) list ./e2e/... | grep -v /e2e/image)

# The long chaos set (e2e/chaos; its short set runs in make e2e):
# CHAOS_SEEDS schedules from CHAOS_FIRST_SEED, each CHAOS_LENGTH of random
# faults on an autoscaling group of CHAOS_SIZE under client load, checked for
# linearizability (porcupine), lost writes and convergence; ends with a table
# of the figures, also in out/chaos/figures.md. A failing seed leaves its
# report, history, porcupine's visualization and logs in out/chaos/ and
# prints the command that replays it.
# SEEDS is a short name for CHAOS_SEEDS (make chaos SEEDS=50).
SEEDS ?= 10
CHAOS_SEEDS ?= $(SEEDS)
CHAOS_FIRST_SEED ?= 1000
CHAOS_SIZE ?= 5
CHAOS_LENGTH ?= 4m
CHAOS_TIMEOUT ?= 12h
.PHONY: chaos
chaos: etcd build
	ETCDBOOT_CHAOS_LONG=1 ETCDBOOT_CHAOS_SEEDS=$(CHAOS_SEEDS) ETCDBOOT_CHAOS_FIRST_SEED=$(CHAOS_FIRST_SEED) \
	  ETCDBOOT_CHAOS_SIZE=$(CHAOS_SIZE) ETCDBOOT_CHAOS_LENGTH=$(CHAOS_LENGTH) ETCDBOOT_CHAOS_OUT=$(CURDIR)/out/chaos \
	  $(GO) test -count=1 -v -timeout $(CHAOS_TIMEOUT) -run 'TestChaosLong$$' ./e2e/chaos/

# Boots copies of the image make image builds under systemd-nspawn: cloud-init
# seeds, a launch group with a replacement, and the real Ignition and
# cloud-init clients against etcdboot serve. Rebuilds the image when it does
# not carry this tree's agent.
IMAGE_DIR := $(CURDIR)/out/image/local-rootfs
e2e-image: deps etcd build ignition
	@cmp -s $(BIN)/etcdboot-agent $(IMAGE_DIR)/rootfs/usr/local/bin/etcdboot-agent || $(MAKE) image
	ETCDBOOT_IMAGE=$(IMAGE_DIR)/rootfs $(GO) test -count=1 -p 1 -timeout 20m ./e2e/image/

test: deps etcd seaweedfs build lint unit fuzz e2e plugin-generate plugin-test plugin-acc e2e-image

# Optional, not in CI: boots the raw disk image in QEMU with a cloud-init
# seed ISO (KVM when there is one, E2E_VM_ACCEL=tcg forces TCG).
e2e-vm: deps etcd build plugin
	scripts/e2e-vm.sh

packer:
	@scripts/build-packer.sh $(PACKER_VERSION)

plugin: packer
	cd builder && $(GO) build -o packer-plugin-etcdboot . && $(GO) tool packer-sdc plugin-check packer-plugin-etcdboot
	mv builder/packer-plugin-etcdboot $(BIN)/packer-plugin-etcdboot
	builder/install-plugin.sh $(PACKER) $(BIN)/packer-plugin-etcdboot

# The generated config.hcl2spec.go files must be current: regenerating leaves no diff.
plugin-generate:
	cd builder && $(GO) generate ./...
	@test -z "$$(git status --porcelain -- builder/)" || { git status --short -- builder/; echo "builder: go generate changed files; commit them"; exit 1; }

plugin-test:
	cd builder && $(GO) vet ./... && $(BIN)/staticcheck ./... && $(GO) test -count=1 ./...

# Real Packer builds images/packer/local-rootfs.pkr.hcl with the plugin.
plugin-acc: deps etcd build packer
	cd builder && PACKER_ACC=1 ETCDBOOT_IMAGE_OUT=$(IMAGE_DIR) $(GO) test -count=1 -p 1 -timeout 30m -run TestAcc ./...

# Packer 1.10+ installs a local plugin build with `packer plugins install
# --path` (Packer 1.9 has no such flag); this checks ours with a newer Packer
# built beside bin/packer. Not in CI: it builds a second Packer.
PACKER_PATH_VERSION ?= v1.11.2
plugin-install-path: plugin
	@scripts/build-packer.sh $(PACKER_PATH_VERSION) --no-link
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	  PACKER_PLUGIN_PATH=$$dir builder/install-plugin.sh $(BIN)/packer-$(PACKER_PATH_VERSION) $(BIN)/packer-plugin-etcdboot | tee "$$dir/install.log" && \
	  grep -q 'Successfully installed plugin' "$$dir/install.log" && \
	  PACKER_PLUGIN_PATH=$$dir $(BIN)/packer-$(PACKER_PATH_VERSION) plugins installed && \
	  PACKER_PLUGIN_PATH=$$dir $(BIN)/packer-$(PACKER_PATH_VERSION) validate -var bin_dir=$(BIN) images/packer/local-rootfs.pkr.hcl

packer-validate: plugin
	$(PACKER) fmt -check images/packer/
	$(PACKER) validate images/packer/local-rootfs.pkr.hcl
	$(PACKER) validate images/packer/generic-cloud.pkr.hcl
	$(PACKER) validate -syntax-only images/packer/qemu.pkr.hcl
	$(PACKER) validate -syntax-only images/packer/amazon-ebs.pkr.hcl

image: deps etcd build plugin
	$(PACKER) build -force images/packer/local-rootfs.pkr.hcl

# Every benchmark, BENCH_COUNT (unit) and BENCH_E2E_COUNT (e2e) runs each,
# ending with one table of the figures against the bare tools, also written
# to docs/benchmarks.md; BENCH_IMAGE=1 adds the slow image benchmarks. The
# cfssl CLI (generate's comparison) is built into bin/ at go.mod's version.
bench: deps etcd seaweedfs build
	@test -x $(BIN)/cfssl -a -x $(BIN)/cfssljson || { v=$$($(GO) list -m -f '{{.Version}}' github.com/cloudflare/cfssl) && \
	  CGO_ENABLED=0 GOBIN=$(BIN) $(GO) install github.com/cloudflare/cfssl/cmd/cfssl@$$v github.com/cloudflare/cfssl/cmd/cfssljson@$$v; }
	GO=$(GO) scripts/bench-report.sh

# Image build time and size against bare mmdebstrap, and boot-to-healthy of
# three nspawn copies against their bare boot, each in the same run.
bench-image: deps etcd build packer
	cd builder && PACKER_ACC=1 $(GO) test -run '^$$' -bench BenchmarkImageBuild -benchtime 2x -timeout 40m ./builder/rootfs/
	@cmp -s $(BIN)/etcdboot-agent $(IMAGE_DIR)/rootfs/usr/local/bin/etcdboot-agent || $(MAKE) image
	ETCDBOOT_IMAGE=$(IMAGE_DIR)/rootfs $(GO) test -run '^$$' -bench . -benchtime 2x -timeout 30m ./e2e/image/

# Every fuzz target for FUZZTIME each (10s in make test); longer on demand:
# make fuzz FUZZTIME=10m KEEP=1 (KEEP copies new inputs into testdata/fuzz; keep a few dozen a target).
# FUZZ_ALL=1 also mutates the replay-only targets (scripts/fuzz.sh).
FUZZTIME ?= 10s
FUZZ_ALL ?= 0
fuzz:
	@FUZZTIME=$(FUZZTIME) FUZZ_ALL=$(FUZZ_ALL) scripts/fuzz.sh

demo: deps etcd build
	$(GO) run ./e2e/demo -bin $(BIN)

clean:
	rm -rf out/ .cache/
