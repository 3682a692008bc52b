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

.PHONY: all build test test-purego test-v3 test-short bench theory sweep tables fuzz vet clean

all: build

build:
	$(GO) build $(GOTAGS) -o $(BIN) ./cmd/armor

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

## bench: Go benchmarks of the kernels; figures are recorded in the README.
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

vet:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

clean:
	rm -rf bin theory.log
	find results -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
