# The one interface: CI calls the same targets (see .ci/run).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# Synth stays offline: no CLI telemetry, no version check, no notices (see docs/deploy.md).
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
STAGE ?= dev
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup lock run test lint format typecheck unit models synth bench clean checkov

setup: $(STAMP)

# Installs exactly requirements/lock.txt, every file checked against its hash: pip (hash-locked
# too) brings uv, uv syncs the venv to the lock (and removes what the lock no longer lists).
$(STAMP): requirements/lock.txt requirements/bootstrap.lock pyproject.toml package.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.lock
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes requirements/lock.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

# Re-lock after editing requirements/*.txt (the pins stay the source; the locks are generated).
# Versions already in the lock are kept unless a pin moved; `make lock UPGRADE=1` refreshes all.
UV ?= $(if $(wildcard $(BIN)/uv),$(BIN)/uv,uv)
LOCK_FLAGS := --quiet --universal --python-version 3.11 --generate-hashes $(if $(UPGRADE),--upgrade)
lock:
	$(UV) pip compile $(LOCK_FLAGS) requirements/bootstrap.txt -o requirements/bootstrap.lock
	$(UV) pip compile $(LOCK_FLAGS) requirements/dev.txt requirements/bootstrap.txt -o requirements/lock.txt

# Train and register v1 and v2 models from the real data (first run only), then serve both
# on http://127.0.0.1:$(PORT) with docs at /docs.
PORT ?= 8000
# CLOCK=2h-ago: stamp requests from two hours back, so a replay lands in hours that have ended
# and `propensity drift` judges it at once (docs/service.md, "the replay clock").
CLOCK ?=
run: setup
	$(BIN)/propensity quickstart --port $(PORT)$(if $(CLOCK), --clock $(CLOCK))

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck:
	$(BIN)/mypy layers/domain/propensity functions infra

unit: checkov
	$(BIN)/pytest

test: lint typecheck unit

# checkov (IaC scan of the synthesized templates, tests/infra/test_checkov.py) in a venv of its
# own: its dependency pins conflict with the project's (see requirements/checkov.txt).
CHECKOV_VENV := .venv-checkov
checkov: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements/checkov.txt
	touch $@

# Each API version ships its registry's champion: train one on a fresh clone (first run only).
models: setup
	@for api in v1 v2; do \
	  if [ "$$($(BIN)/propensity alias --api $$api champion)" = "(unset)" ]; then \
	    $(BIN)/propensity train --api $$api --champion-if-none; \
	  fi; \
	done

# Every stack of $(STAGE) into cdk.out/: no Docker, no AWS credentials; cfn-lint on each template.
synth: models
	npx cdk synth --quiet --no-notices -c stage=$(STAGE)
	$(BIN)/cfn-lint -- cdk.out/*.template.json

bench: setup
	$(BIN)/python -m tests.perf.run_benchmarks

clean:
	rm -rf cdk.out .mypy_cache .ruff_cache .pytest_cache layers/build $(CHECKOV_VENV)
