# Set-up and the two everyday commands. Everything installs into the project folder:
# .venv (Python), .runner/ (Cassandra jars and data, connector jars, Superset venv).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-unit check up down clean bench

$(BIN)/runner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

setup: $(BIN)/runner  ## Python env, Maven jars, Superset env, Chromium (for screenshots)
	$(BIN)/runner setup

demo: setup  ## The main job: local Cassandra + Superset, build every model, sync the dashboard
	$(BIN)/runner build

test: setup check  ## The whole test suite (what CI runs): static checks, unit tests (stop at the first failure), integration tests
	$(BIN)/python -m pytest tests/unit -x
	$(BIN)/python -m pytest tests/integration --durations=20

check: $(BIN)/runner  ## Static gates: ruff, the import layers and mypy on runner/, runner lint (doctests run in pytest)
	$(BIN)/ruff check runner
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/runner lint

test-unit: $(BIN)/runner  ## Fast tests only (no Spark, no services)
	$(BIN)/python -m pytest tests/unit

up: setup
	$(BIN)/runner up

down:
	$(BIN)/runner down

bench: setup
	$(BIN)/python bench/run.py

clean:
	$(BIN)/runner clean
