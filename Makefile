# The one interface: CI calls the same targets (see .ci/run).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup run test lint format typecheck unit synth bench clean

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

unit:
	$(BIN)/pytest

test: lint typecheck unit

synth: setup
	npx cdk synth --quiet --all

bench: setup
	$(BIN)/python -m tests.perf.run_benchmarks

clean:
	rm -rf cdk.out .mypy_cache .ruff_cache .pytest_cache layers/build
