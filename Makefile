# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-runtime
MARKET ?= data/market
SEED ?= 7
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)

.PHONY: venv demo test test-fast lint format typecheck bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip setuptools wheel

# reinstall only when the project's metadata changes. Tests, lint and benchmarks get the dev tools and
# the Spark extra (pyspark, a 455 MB download); the demo needs neither, so a fresh `make demo` installs
# the runtime dependencies only (DEMO_STAMP), unless the full set is already current.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo ">>> installing choujian with the dev and spark extras into $(VENV) (first time: several minutes)"
	$(BIN)/pip install --progress-bar on -e '.[dev,spark]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@if [[ $(STAMP) -nt pyproject.toml ]]; then echo ">>> $(VENV) is current"; else \
	  echo ">>> installing choujian and its runtime dependencies into $(VENV) (first time: several minutes)"; \
	  $(BIN)/pip install --progress-bar on -e .; fi
	touch $(DEMO_STAMP)

venv: $(STAMP)

demo: $(DEMO_STAMP)
	@bash scripts/demo.sh

test: $(STAMP)
	@bash scripts/test.sh

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow" -x

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# each prints ratios against a baseline measured in the same run; none gates a test
bench: $(STAMP)
	$(BIN)/python benchmarks/tokenize.py --json
	$(BIN)/python benchmarks/planner.py
	$(BIN)/python benchmarks/serve.py
	$(BIN)/python benchmarks/batch.py --listings 20000

clean:
	rm -rf data/market data/interim data/processed reports mlruns mlflow.db choujian.db test-artifacts
