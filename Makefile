# cfkafka: two commands. `make demo` runs everything locally; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint unit e2e clean dev-up dev-down native-test

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

# The native encoder (native/, Rust + PyO3, built by maturin from PyPI with cargo): the
# connector uses it when installed and falls back to Python otherwise. NATIVE=0 skips it.
NATIVE ?= 1
NATIVE_SRC := native/pyproject.toml native/Cargo.toml $(wildcard native/Cargo.lock native/src/*.rs)

$(BIN)/.native: $(BIN)/.installed $(NATIVE_SRC)
	@PATH="$$HOME/.cargo/bin:$$PATH" command -v cargo >/dev/null || { echo "cargo (Rust) is needed to build native/ (https://rustup.rs), or run with NATIVE=0" >&2; exit 1; }
	PATH="$$HOME/.cargo/bin:$$PATH" $(BIN)/pip install --quiet ./native
	@touch $@

ifeq ($(NATIVE),0)
install: $(BIN)/.installed
else
install: $(BIN)/.installed $(BIN)/.native
endif

demo: install
	$(BIN)/cfkafka demo

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -ra
ifneq ($(NATIVE),0)
	$(MAKE) native-test
endif

# The native crate's own tests: each stage against fixtures the Python path writes
native-test: $(BIN)/.native
	$(BIN)/python native/tests/avro_fixtures.py
	$(BIN)/python native/tests/ocsf_fixtures.py
	cd native && PATH="$$HOME/.cargo/bin:$$PATH" cargo test --quiet --no-default-features

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache infra/target native/target
