# The two commands a new user needs: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench audit clean constraints

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# one resolver call with everything, pinned by constraints.txt (see docs/development.md)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/telemetry demo

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check telemetry tests benchmarks
	$(BIN)/ruff format --check telemetry tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# two pytest-xdist workers (CI has 2 cores); a test file with a module-scoped fixture runs on one worker
# (tests/conftest.py). `make unit PYTEST_ARGS=...` replaces this, e.g. PYTEST_ARGS="-n 0 tests/test_x.py".
PYTEST_ARGS ?= -n 2

unit: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the whole benchmark suite (see docs/performance.md): benchmarks/results/suite.json + the docs' tables
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Audit the locked dependencies for known vulnerabilities (needs the PyPI JSON API or OSV on the network).
# pip-audit lives in its own venv: it is a tool, not a dependency. Fails when any package could not be
# audited, so an unreachable service is never mistaken for "no known vulnerabilities".
audit:
	test -x .venv-audit/bin/pip-audit || ($(PYTHON) -m venv .venv-audit && .venv-audit/bin/pip install --quiet pip-audit==2.10.1)
	.venv-audit/bin/pip-audit -r constraints.txt --no-deps --disable-pip --progress-spinner off --strict

# Re-resolve every dependency in one call and pin the result (run after editing pyproject.toml).
constraints:
	rm -rf /tmp/telemetry-lock && $(PYTHON) -m venv /tmp/telemetry-lock
	/tmp/telemetry-lock/bin/pip install --quiet --upgrade pip
	/tmp/telemetry-lock/bin/pip install --quiet '.[dev]'
	/tmp/telemetry-lock/bin/pip freeze --exclude telemetry > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info demo-data
