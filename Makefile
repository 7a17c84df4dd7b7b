# inventory-import: one entry point for setting up, testing, linting, building and the demo.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PY_TOOLS := moto[server]==5.2.* cfn-lint cargo-lambda==1.9.* ziglang duckdb

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup test lint fmt build demo bench clean

## setup: create .venv with the local AWS stack (moto) and the build/lint tools
setup: $(STAMP)

$(STAMP): Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	touch $@

## test: every test (unit tests and integration tests against a local moto server)
test: setup
	cargo build --workspace --locked
	set -o pipefail; cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/test-output.log
	@awk '/^test result:/ { p += $$4; f += $$6; i += $$8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.log

## lint: formatting, clippy with warnings as errors, cfn-lint on the SAM template
lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	$(VENV)/bin/cfn-lint infra/template.yaml

fmt:
	cargo fmt --all

## build: release Lambda bootstrap binaries for x86_64 (target/lambda/<function>/bootstrap)
build: setup
	cargo lambda build --release --x86-64 --bin trigger --bin worker --bin committer

## demo: generate a source bucket and its inventory on a local moto server and inspect it
demo: setup
	cargo build --locked -p inventory-import
	scripts/demo.sh

## bench: reader on a 1 GiB single-row-group data file; trees of 1,000,000 entries
bench: setup
	scripts/bench-reader.sh
	scripts/bench-tree.sh

clean:
	rm -rf $(VENV) target bench/data
