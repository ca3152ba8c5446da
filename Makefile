# The two set-up commands of this project: `make run` and `make test`.
# Each creates .venv when missing and installs the pinned packages (constraints.txt).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# The bot, and Agents Playground for each example user when Node.js is present.
run: $(STAMP)
	-@scripts/node_tools.sh
	$(BIN)/python scripts/run_demo.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Node tools (npm ci) and Debian's Chromium (apt, when CI=true) for the browser tests.
test: lint
	@scripts/node_tools.sh || { rc=$$?; [ $$rc -eq 3 ] && [ "$${CI:-}" != "true" ] || exit $$rc; }
	@scripts/ensure_chromium.sh
	$(BIN)/pytest

# Benchmarks (not part of `make test`): ratios measured side by side in one run,
# printed as a table and written to bench/results.json. Uses PostgreSQL at
# BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var dist node_modules devTools .pytest_cache .mypy_cache .ruff_cache
