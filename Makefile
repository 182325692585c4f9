# vxswitch developer entry points. Run `make` or `make help` for the list.

# A fresh shell (sudo, CI) may not have Go on PATH.
export PATH := /usr/local/go/bin:$(PATH)
SHELL := /bin/bash

GO       ?= go
GOFMT    ?= gofmt
FUZZTIME ?= 10s
RUNS     ?= 1
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN      := bin/vxswitch

# Pinned so lint gives the same answer everywhere; v0.8.2 (staticcheck
# 2026.2.2) builds and runs with Go 1.26.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# command:Debian package, for what scripts/demo.sh runs besides vxswitch.
DEMO_TOOLS := ip:iproute2 ping:iputils-ping nc:netcat-openbsd
# The same, for what scripts/bench-e2e.sh runs.
BENCH_TOOLS := ip:iproute2 ping:iputils-ping iperf3:iperf3 jq:jq

.DEFAULT_GOAL := help
.PHONY: help build test fmt-check vet test-e2e lint fuzz bench bench-e2e deps-bench demo deps-demo check-root clean

help: ## List the targets
	@echo "Usage: make TARGET [VAR=value]"
	@echo
	@grep -E '^[a-z0-9-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
		awk 'BEGIN { FS = ":.*## " } { printf "  %-10s %s\n", $$1, $$2 }'
	@echo
	@echo "Variables: GO=$(GO) FUZZTIME=$(FUZZTIME) RUNS=$(RUNS) VERSION=$(VERSION)"
	@echo "bench-e2e also reads HOST_CPUS=\"A B\" (each host on its own CPUs) and VXSWITCH_NICE=N (see scripts/bench-e2e.sh)"

build: ## Build bin/vxswitch with the version from git describe
	$(GO) build -ldflags "-X main.buildVersion=$(VERSION)" -o $(BIN) ./cmd/vxswitch

test: fmt-check vet ## gofmt check, go vet, unit tests with the race detector (root also runs integration tests)
	$(GO) test -race -count=1 -timeout 8m ./...

fmt-check:
	@files=$$($(GOFMT) -l .); \
	if [ -n "$$files" ]; then \
		echo "gofmt: these files need formatting (run gofmt -w on them):" >&2; \
		echo "$$files" >&2; \
		exit 1; \
	fi

vet:
	$(GO) vet ./...

test-e2e: ## Only the TestIntegration* tests, verbose (needs root; they skip otherwise)
	$(GO) test -race -count=1 -timeout 8m -run Integration -v ./...

lint: fmt-check vet ## gofmt, go vet, staticcheck, go mod tidy -diff
	$(GO) run $(STATICCHECK) ./...
	$(GO) mod tidy -diff

# Every `func FuzzX` in a _test.go file is found here, so a new fuzz target
# runs without editing this file. Each runs for FUZZTIME, one after the other
# (go test -fuzz takes one target in one package at a time).
#
# Go 1.26's fuzz coordinator can end a duration-bounded run with a bare
# "context deadline exceeded" when a loaded machine starves its workers at
# the deadline (go.dev/issue/75804, fixed in Go 1.27). That failure writes no
# failing input, so it is told apart from a real crasher and not counted.
fuzz: ## Run every fuzz target for FUZZTIME each (default 10s)
	@set -euo pipefail; \
	targets=$$(grep -rEo --include='*_test.go' --exclude-dir=.git --exclude-dir=testdata \
		'^func Fuzz[A-Za-z0-9_]*' . | sed 's/:func /:/' | sort); \
	if [ -z "$$targets" ]; then echo "fuzz: no fuzz targets found" >&2; exit 1; fi; \
	out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	for t in $$targets; do \
		dir=$$(dirname "$${t%%:*}"); name=$${t#*:}; \
		echo "==> $$name in $$dir/ for $(FUZZTIME)"; \
		if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s "$$dir/" 2>&1 | tee "$$out"; then \
			continue; \
		fi; \
		if grep -qx '    context deadline exceeded' "$$out" && ! grep -q 'Failing input written' "$$out"; then \
			echo "==> $$name: no failing input, only Go's fuzz deadline race (go.dev/issue/75804); not a crasher, going on"; \
			continue; \
		fi; \
		echo "==> $$name in $$dir/ FAILED" >&2; \
		exit 1; \
	done

bench: ## Run all benchmarks with allocation counts
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-e2e: check-root deps-bench build ## iperf3 and ping across the overlay: kernel vxlan+bridge vs vxswitch, then RSS with 100k learned MACs; one table (root; RUNS=N for medians)
	$(GO) build -o bin/fdbfill ./internal/tools/fdbfill
	RUNS=$(RUNS) FDBFILL=bin/fdbfill scripts/bench-e2e.sh $(BIN)

deps-bench: check-root
	@missing=; \
	for t in $(BENCH_TOOLS); do \
		command -v "$${t%%:*}" >/dev/null 2>&1 || missing="$$missing $${t#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "==> installing$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

demo: check-root deps-demo build ## Two hosts, two containers, one VNI, all in network namespaces (root)
	scripts/demo.sh $(BIN)

deps-demo: check-root ## Install iproute2, iputils-ping and netcat-openbsd if missing
	@missing=; \
	for t in $(DEMO_TOOLS); do \
		command -v "$${t%%:*}" >/dev/null 2>&1 || missing="$$missing $${t#*:}"; \
	done; \
	if command -v nc >/dev/null 2>&1 && ! nc -h 2>&1 | grep -q OpenBSD; then \
		missing="$$missing netcat-openbsd"; \
	fi; \
	if [ -n "$$missing" ]; then \
		echo "==> installing$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

check-root:
	@if [ "$$(id -u)" -ne 0 ]; then \
		echo "make: this target must be run as root (it creates network namespaces and installs packages): sudo make $(MAKECMDGOALS)" >&2; \
		exit 1; \
	fi

clean: ## Remove bin/
	rm -rf bin
