# cfkafka: two commands. `make demo` runs everything locally; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint unit e2e clean dev-up dev-down

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/cfkafka demo

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -ra

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -ra -m "not e2e"

e2e: install
	$(BIN)/pytest -ra -m e2e

dev-up: install
	$(BIN)/cfkafka dev up

dev-down: install
	$(BIN)/cfkafka dev down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache infra/target
