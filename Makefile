# inventory-import: one entry point for setting up, testing, linting, building and the demo.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PY_TOOLS := moto[server]==5.2.* cfn-lint cargo-lambda==1.9.* ziglang duckdb pyarrow awscli s5cmd schemathesis==4.* playwright==1.*
# The browser tests drive Debian's Chromium through Playwright (never Playwright's own
# browser download): installed with apt-get when it is missing.
CHROMIUM := /usr/bin/chromium
# The AWS SAM CLI pins its own boto3, click and pydantic: it gets a virtual environment of
# its own inside .venv (linked as .venv/bin/sam), installed by `make build` only.
SAM_VENV  := $(VENV)/sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_CLI   := aws-sam-cli==1.170.*
LAMBDA_FUNCTIONS := trigger worker committer api

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup test chaos soak lint fmt build lambda sam-build demo serve bench scale-moto model clean

## setup: create .venv with the local AWS stack (moto) and the build/lint tools, and
## install Debian's Chromium for the browser tests when it is missing
setup: $(STAMP)

$(STAMP): Makefile
	@if [ -x $(CHROMIUM) ]; then echo "$(CHROMIUM) is installed"; else \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; fi
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	touch $@

## test: every test (unit tests and integration tests against a local moto server), the
## seeded random ones in their short versions (see soak); TEST_THREADS tests at once
## (default 4: most of a test's time is spent waiting on moto and on child processes)
TEST_THREADS ?= 4
test: setup
	cargo build --workspace --locked
	set -o pipefail; cargo test --workspace --locked --no-fail-fast -- --test-threads $(TEST_THREADS) 2>&1 | tee target/test-output.log
	@awk '/^test result:/ { p += $$4; f += $$6; i += $$8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.log

## chaos: the trigger, worker and committer as separate processes, one SIGKILLed at a random
## moment of each import and restarted, over CHAOS_RUNS seeded runs (default 50, from
## CHAOS_SEED, default 1); each import must commit once, exactly. make test runs two.
CHAOS_RUNS ?= 50
CHAOS_SEED ?= 1
chaos: setup
	cargo build --workspace --locked
	CHAOS_RUNS=$(CHAOS_RUNS) CHAOS_SEED=$(CHAOS_SEED) cargo test --locked -p integration-tests --test integration -- chaos:: --nocapture

## soak: the seeded random tests at full length: FAULT_SEEDS imports through 10 % faults
## on every operation (default 20), CATALOG_MODEL_SEEDS rounds of commits against the
## catalog's model (default 20), MODEL_STEPS steps of the branch model (default 400, from
## MODEL_SEED). make test runs 2, 2 and 60.
FAULT_SEEDS ?= 20
CATALOG_MODEL_SEEDS ?= 20
MODEL_STEPS ?= 400
MODEL_SEED ?= 20261204
soak: setup
	cargo build --workspace --locked
	FAULT_SEEDS=$(FAULT_SEEDS) CATALOG_MODEL_SEEDS=$(CATALOG_MODEL_SEEDS) MODEL_STEPS=$(MODEL_STEPS) MODEL_SEED=$(MODEL_SEED) \
		cargo test --locked -p integration-tests --test integration -- --nocapture \
		faults::an_import_through_ten_percent_faults catalog::random_commits branch_model::random_writes

## lint: formatting, clippy with warnings as errors, cfn-lint on the SAM template
lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	$(VENV)/bin/cfn-lint infra/template.yaml

fmt:
	cargo fmt --all

## build: release Lambda bootstrap binaries for x86_64 (target/lambda/<function>/bootstrap),
## then `sam build` of infra/template.yaml from them (infra/.aws-sam/build)
build: lambda sam-build

lambda: setup
	cargo lambda build --release --x86-64 --locked $(addprefix --bin ,$(LAMBDA_FUNCTIONS))
	@for f in $(LAMBDA_FUNCTIONS); do ls -l target/lambda/$$f/bootstrap; done

# SAM's rust-cargolambda build method runs `cargo lambda build --release --bin <function>`
# in the workspace for each function: after `lambda` it finds everything built. Offline:
# no telemetry, and the template's Architecture parameter set to what was built.
sam-build: lambda $(SAM_STAMP)
	cd infra && SAM_CLI_TELEMETRY=0 sam build --beta-features --parameter-overrides Architecture=x86_64

$(SAM_STAMP): Makefile | $(STAMP)
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check '$(SAM_CLI)'
	ln -sf ../sam/bin/sam $(VENV)/bin/sam
	touch $@

## demo: generate a source bucket and its inventory on a local moto server and inspect it
demo: setup
	cargo build --locked -p inventory-import
	scripts/demo.sh

## serve: the web UI, the JSON API and the S3 endpoint on the local stack (moto), with a
## repository, two deliveries to import from the UI and a first access key printed;
## Ctrl-C stops everything (SERVE_PORT, default 8000)
serve: setup
	cargo build --locked -p inventory-import
	scripts/serve.sh

## bench: the import's stages beside pyarrow and DuckDB, end to end on moto at several sizes
## (bench/results.json); the reader on a 1 GiB single-row-group data file; trees of 1,000,000 entries;
## the S3 endpoint (listing, HeadObject, GetObject beside moto's S3; 32 clients for 30 s);
## the partitioned commit at 10 M and 50 M objects with K = 1, 2, 4 (BENCH_SCALE_OBJECTS);
## then the cost model
bench: setup
	cargo build --release --locked -p inventory-import -p inventory-devtools
	$(PY) scripts/bench.py
	scripts/bench-reader.sh
	scripts/bench-tree.sh
	scripts/bench-branch.sh
	$(PY) scripts/bench-serve.py
	$(PY) scripts/bench-scale.py
	$(PY) scripts/model.py

## scale-moto: a 10,000,000-object import through the real functions on moto, its commit in
## 4 partitions (SCALE_MOTO_OBJECTS, IMPORT_PARTITIONS); checks it exact, prints time and memory
scale-moto: setup
	cargo build --release --locked -p inventory-import -p inventory-devtools
	$(PY) scripts/scale-moto.py

## model: what importing 100 M and 1 B objects costs in AWS and how long it takes, from
## bench/results.json (`make bench`) and AWS's prices (MODEL_ARGS, e.g. "--workers 200")
model:
	python3 scripts/model.py $(MODEL_ARGS)

clean:
	rm -rf $(VENV) target bench/data
