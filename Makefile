# Set-up and the two everyday commands. Everything installs into the project folder:
# .venv (Python), .runner/ (Cassandra jars and data, connector jars, Superset venv).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export JAVA_HOME ?= /usr/lib/jvm/java-17-openjdk-amd64

.PHONY: setup demo test test-unit up down clean bench

$(BIN)/runner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

setup: $(BIN)/runner  ## Python env, Maven jars, Superset env, Chromium (for screenshots)
	$(BIN)/runner setup

demo: setup  ## The main job: local Cassandra + Superset, build every model, sync the dashboard
	$(BIN)/runner build

test: setup  ## The whole test suite (what CI runs)
	$(BIN)/python -m pytest

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
