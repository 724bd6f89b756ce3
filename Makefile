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

.PHONY: setup run test lint format typecheck unit models synth bench clean checkov

setup: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/train.txt requirements/dev.txt pyproject.toml package.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

# Train and register v1 and v2 models from the real data (first run only), then serve both
# on http://127.0.0.1:$(PORT) with docs at /docs.
PORT ?= 8000
run: setup
	$(BIN)/propensity quickstart --port $(PORT)

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
