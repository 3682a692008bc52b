# The project's commands. `make sweep` is the main job; `make test` is what CI runs.
GO      ?= go
CONFIG  ?= configs/llama.yaml
SET     ?=
BIN     := bin/armor
# BLAS backend: OpenBLAS through cgo when its headers and library are installed
# (Debian: apt-get install libopenblas-dev), else gonum's pure Go. Force with
# `make test TAGS=` (pure Go) or `TAGS=openblas`.
HAVE_OPENBLAS := $(shell { test -e /usr/include/x86_64-linux-gnu/cblas.h || test -e /usr/include/cblas.h || test -e /usr/include/openblas/cblas.h; } && ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so ' && echo 1)
TAGS ?= $(if $(HAVE_OPENBLAS),openblas,)
GOTAGS := $(if $(TAGS),-tags $(TAGS),)
# Benchmarks: `make bench BENCH=ARMORIter BENCHTIME=5x`.
BENCH     ?= .
BENCHTIME ?= 3x
# Packages of `make test-race` (the whole short suite fits CI's budget: docs/tests.md).
RACE_PKGS ?= ./...

.PHONY: all help build test test-purego test-v3 test-short test-race test-gguf test-slurm bench theory sweep tables fuzz fmt-check generate-check vet clean

all: build

## help: list the targets with what they do.
help:
	@awk 'BEGIN {FS = ": "} /^## [a-z-]+: / {sub(/^## /, ""); printf "  %-15s %s\n", $$1, substr($$0, length($$1) + 3)}' $(MAKEFILE_LIST)

COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null)
## build: the CLI, bin/armor.
build:
	$(GO) build $(GOTAGS) $(if $(COMMIT),-ldflags "-X main.buildCommit=$(COMMIT)",) -o $(BIN) ./cmd/armor

## test: every test, including the reference fixtures and the property tests at CI size.
test:
	@echo "BLAS backend: $(if $(TAGS),OpenBLAS (-tags $(TAGS)),gonum pure Go)"
	$(GO) vet $(GOTAGS) ./...
	$(GO) test $(GOTAGS) -timeout 40m ./...

## test-purego: the numerics again on gonum's pure-Go BLAS and without assembly (the fallback path).
test-purego:
	$(GO) test -tags purego -short -timeout 20m ./internal/kernel/ ./methods/ ./theory/

## test-v3: the numerics built for GOAMD64=v3 (FMA allowed to the compiler): the bitwise tests must still pass.
test-v3:
	GOAMD64=v3 $(GO) test $(GOTAGS) -short -timeout 20m ./internal/kernel/ ./methods/ ./theory/

## test-short: the quick subset (skips the full-length ARMOR reference runs).
test-short:
	$(GO) test $(GOTAGS) -short ./...

## test-gguf: the GGUF export checked with a real llama.cpp (npm node-llama-cpp, installed into LLAMACPP_DIR once; needs node and npm).
# The test loads the exported stories260K GGUF and compares perplexity and tokenization with armor's.
LLAMACPP_DIR ?= $(HOME)/.cache/armor/node-llama-cpp
NODE_LLAMA_CPP_VERSION ?= 3.22.1
test-gguf:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "test-gguf: needs node and npm (Debian: apt-get install -y nodejs npm)"; exit 1; }
	@test -f $(LLAMACPP_DIR)/node_modules/node-llama-cpp/package.json || { \
	  mkdir -p $(LLAMACPP_DIR) && cd $(LLAMACPP_DIR) && \
	  { test -f package.json || npm init -y >/dev/null; } && \
	  npm install --no-audit --no-fund --ignore-scripts node-llama-cpp@$(NODE_LLAMA_CPP_VERSION); }
	ARMOR_NODE_LLAMA_CPP_DIR=$(LLAMACPP_DIR)/node_modules $(GO) test $(GOTAGS) -count=1 -run 'GGUF' -v ./cmd/armor/ ./datasets/

## test-slurm: the Slurm scripts against a real one-node Slurm on localhost (installs, starts and stops slurmctld/slurmd/munge; kills and resubmits tasks); fails loudly when Slurm cannot be had.
test-slurm:
	GOTAGS="$(GOTAGS)" bash scripts/test-slurm.sh

## bench: Go benchmarks of the kernels (BENCH=regexp BENCHTIME=3x); figures are recorded in docs/performance.md.
bench:
	$(GO) test $(GOTAGS) -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem ./internal/kernel/ ./methods/

## theory: every property of Theorem 3.1 with at least 1000 cases each, and a summary table.
theory:
	ARMOR_THEORY_SEED=random ARMOR_THEORY_CHECKS=1000 $(GO) test $(GOTAGS) -timeout 120m -run 'Theory|Property' -v ./theory/ | tee theory.log | grep -E '^(\||\+|---|ok|FAIL|PASS)' || true
	@grep -q '^ok' theory.log

## sweep: run the experiment in CONFIG (SET="key=value ..." overrides keys).
sweep: build
	$(BIN) sweep --config $(CONFIG) $(if $(SET),--set "$(SET)",)

## tables: re-render tables and plots of CONFIG from its cells.jsonl, without recomputing.
tables: build
	$(BIN) tables --config $(CONFIG)

## fuzz: fuzz the safetensors header parser for a minute.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseSafetensors -fuzztime 60s ./datasets/

## fmt-check: fail, listing the files, when any Go file is not gofmt-formatted.
fmt-check:
	@files=$$(gofmt -l .); if [ -n "$$files" ]; then echo "not gofmt-formatted (run gofmt -w):"; echo "$$files"; exit 1; fi

## generate-check: fail when the generated assembly differs from what go generate writes.
generate-check:
	$(GO) generate ./...
	@git diff --exit-code --stat || { echo "generated files differ from the committed ones (or the tree was not clean): run go generate ./... and commit the result"; exit 1; }

## test-race: the short suite under the race detector (RACE_PKGS selects the packages).
test-race:
	$(GO) test $(GOTAGS) -race -short -timeout 20m $(RACE_PKGS)

## vet: gofmt check and go vet.
vet: fmt-check
	$(GO) vet ./...

## clean: remove bin/, theory.log and the results folders.
clean:
	rm -rf bin theory.log
	find results -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
