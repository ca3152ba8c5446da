# The two set-up commands of this project: `make run` and `make test`.
# Each picks the newest Python 3.11-3.14 found (or PYTHON=python3.12 ...), says which,
# and creates its virtual environment from requirements.lock when missing or stale
# (scripts/python_env.sh: .venv for the newest Python, .venv-X.Y for another).
SHELL := /bin/bash

# "X.Y.Z /path/to/python VENV", worked out once and only by the targets that need it.
# (PYTHON is handed over explicitly: make 4.3's $(shell) sees no command-line variable.)
PICK = $(eval PICK := $(shell PYTHON='$(PYTHON)' scripts/python_env.sh pick))$(PICK)
PY = $(word 2,$(PICK))
VENV = $(word 3,$(PICK))
BIN = $(VENV)/bin
# The installer, for tests/unit/test_lock.py's tamper check.
export ATMT_UV := $(CURDIR)/.tools/bin/uv

.PHONY: env env-test run lint test test-quick lock bench clean

env:
	@[ -n "$(VENV)" ]
	@scripts/python_env.sh ensure $(VENV) $(PY)

# The bot, and Agents Playground for each example user when Node.js is present. The
# Node tools are installed while the Python packages are.
run:
	@[ -n "$(VENV)" ]
	@node_log="$$(mktemp)"; scripts/node_tools.sh >"$$node_log" 2>&1 & node=$$!; \
	scripts/python_env.sh ensure $(VENV) $(PY) || { kill $$node; wait; exit 1; }; \
	wait $$node || true; cat "$$node_log"; rm -f "$$node_log"
	$(BIN)/python scripts/run_demo.py

# The packages byte-compiled too, for the tests.
env-test:
	@[ -n "$(VENV)" ]
	@scripts/python_env.sh ensure $(VENV) $(PY) --compile

lint: env-test
	$(BIN)/ruff check .
	$(BIN)/mypy

# The suite runs on one pytest-xdist worker per CPU (WORKERS=1 for one process); the
# browser tests share one worker (the xdist_group "browser", tests/conftest.py).
WORKERS ?= auto
XDIST = -n $(WORKERS) --dist loadgroup

# Node tools (npm ci) and Debian's Chromium (apt, when CI=true) for the browser tests.
test: lint
	@scripts/node_tools.sh || { rc=$$?; [ $$rc -eq 3 ] && [ "$${CI:-}" != "true" ] || exit $$rc; }
	@scripts/ensure_chromium.sh
	$(BIN)/pytest $(XDIST)

# The suite without the browser tests and the linters: what .ci/run runs on every
# other Python found (PYTHON=python3.12 make test-quick).
test-quick: env-test
	@scripts/node_tools.sh || { rc=$$?; [ $$rc -eq 3 ] && [ "$${CI:-}" != "true" ] || exit $$rc; }
	$(BIN)/pytest $(XDIST) -m "not e2e"

# requirements.lock and tools.lock anew from pyproject.toml (keeps the other pins);
# `make lock UPGRADE=1` takes the newest version of every package.
lock:
	@scripts/lock.sh

# Benchmarks (not part of `make test`): ratios measured side by side in one run,
# printed as a table and written to bench/results.json. Uses PostgreSQL at
# BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
bench: env
	$(BIN)/python -m bench.run

clean:
	rm -rf .venv .venv-3.* .tools .tools.venv var dist node_modules devTools .pytest_cache .mypy_cache .ruff_cache
