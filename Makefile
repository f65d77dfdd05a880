# Two commands do everything from a fresh clone: `make demo` and `make test`.
# Each creates what it needs (virtualenvs from the committed lock files) and is safe to run again.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
VENV2 := .venv-airflow2
LOCK3 := requirements/lock-airflow-3.3.txt
LOCK2 := requirements/lock-airflow-2.11.txt
PYTEST_ARGS ?=
# pytest-xdist workers per Airflow line: most test time is spent waiting on simulated builds.
# loadfile: a test module runs on one worker, so module fixtures run once (the outputs comparison
# runs the ampx CLI once for all its cases) and the real-ampx tests on sample-app/ never overlap.
TEST_WORKERS ?= 3
XDIST := -n $(TEST_WORKERS) --dist loadfile

.PHONY: demo ui test test-setup test-fast lint format lock venvs clean ampx world compose-tool

demo: $(VENV)/.installed
	$(VENV)/bin/python demo/run_demo.py

# The Airflow UI (airflow standalone) against the same seeded local world; Ctrl-C stops both.
ui: $(VENV)/.installed
	$(VENV)/bin/python demo/run_demo.py --ui

test:
	@$(MAKE) --no-print-directory -j4 test-setup
	@echo "== tests on Airflow 3.3 ($(LOCK3)) and Airflow 2.11 ($(LOCK2)), side by side,"
	@echo "   with the smoke tier on $$($(MATRIX) combos --ci) (make smoke-all: every line and Python)"
	@echo "   (the real-ampx tests, marker ampx, exercise Node and the CLI rather than Airflow: they run on 3.3 only)"
	@rm -rf .reliability-report
	@$(VENV)/bin/python -m pytest -p no:cacheprovider $(XDIST) --durations=15 $(PYTEST_ARGS) > .test-airflow-3.3.log 2>&1 & p3=$$!; \
	$(VENV2)/bin/python -m pytest -p no:cacheprovider $(XDIST) --durations=15 -m "not ampx" $(PYTEST_ARGS) > .test-airflow-2.11.log 2>&1 & p2=$$!; \
	$(SMOKE_IN_TEST) > .test-smoke.log 2>&1 & ps=$$!; \
	wait $$p3; r3=$$?; wait $$p2; r2=$$?; wait $$ps; rs=$$?; \
	echo "== Airflow 2.11"; tail -n 40 .test-airflow-2.11.log; \
	echo "== Airflow 3.3"; tail -n 40 .test-airflow-3.3.log; \
	echo "== smoke tier (the built wheel on other lines and Pythons)"; tail -n 80 .test-smoke.log; \
	echo "== Airflow 3.3: exit $$r3; Airflow 2.11: exit $$r2; smoke tier: exit $$rs (full logs: .test-*.log, .smoke/)"; \
	tail -n 1 .test-airflow-3.3.log; \
	$(VENV)/bin/python -m tests.reliability.report; \
	[ $$r3 -eq 0 ] && [ $$r2 -eq 0 ] && [ $$rs -eq 0 ]

# What the suite needs, built side by side (virtualenvs, the ampx CLI, the sample app's packages).
test-setup: lint $(VENV)/.installed $(VENV2)/.installed ampx sample-app/node_modules/.installed compose-tool dist

# The newest line only, for quick local iterations.
test-fast: $(VENV)/.installed
	$(VENV)/bin/python -m pytest $(XDIST) $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The pinned ampx CLI from npm, in a cache outside the repository. Tests that need it skip, saying
# why, when npm cannot be reached.
ampx:
	@scripts/install-ampx >/dev/null || echo "warning: could not install the ampx CLI; tests that need it will skip"

# The sample Gen 2 app's dependencies, for the real `ampx pipeline-deploy` tests. `npm install`, not
# `npm ci`: npm 10/11 reject the lock file of any project that depends on @aws-amplify/backend
# (npm/cli#9821). Re-runs only when the lock file changes.
sample-app/node_modules/.installed: sample-app/package-lock.json
	@cd sample-app && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1 \
		&& touch node_modules/.installed \
		|| echo "warning: could not install sample-app dependencies; tests that need them will skip"

# Debian's docker-compose (v1) checks docker-compose.yaml's structure without a Docker engine.
compose-tool:
	@command -v docker-compose >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq docker-compose >/dev/null; fi; }

# Start the local AWS world in the foreground (Ctrl-C stops it).
world: $(VENV)/.installed
	$(VENV)/bin/python -m airflow_amplify.testing serve --port $${PORT:-5055}

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(LOCK3) setup.cfg pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(VENV)/bin/python -r $(LOCK3)
	$(UV) pip install --quiet --compile-bytecode --python $(VENV)/bin/python --no-deps -e .
	touch $@

$(VENV2)/.installed: $(LOCK2) setup.cfg pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV2)
	$(UV) pip install --quiet --compile-bytecode --python $(VENV2)/bin/python -r $(LOCK2)
	$(UV) pip install --quiet --compile-bytecode --python $(VENV2)/bin/python --no-deps -e .
	touch $@

venvs: $(VENV)/.installed $(VENV2)/.installed

# --- The Airflow version matrix: a lock file per line, the distribution, the smoke tier ---------------
# scripts/matrix.py holds the lines, their era dates, their Pythons (PY312=/path/to/python3.12 overrides
# where an interpreter is found) and what resolves newer than a line's era.
MATRIX := $(PYTHON) scripts/matrix.py
TWINE := $(TOOLS)/bin/twine
TWINE_VERSION := 7.0.0
# Smoke combinations side by side (each mostly waits on airflow dags test and simulated builds).
SMOKE_JOBS ?= 2
# `make test` runs the smoke tier beside the two full-suite lines, one combination at a time.
SMOKE_IN_TEST = $(MATRIX) smoke --ci --jobs 1

.PHONY: dist smoke smoke-all

# Re-resolve every line's lock file (requirements/lock-airflow-LINE.txt) after changing dependencies
# in setup.cfg or requirements/airflow-LINE.in; `$(MATRIX) lock 3.0` re-resolves one line.
lock: | $(UV)
	$(MATRIX) lock

# The sdist and the wheel in dist/, checked: twine's metadata check and the wheel's file list.
dist: | $(UV) $(TWINE)
	rm -rf dist
	$(UV) build --quiet --out-dir dist
	$(TWINE) check --strict dist/*
	$(PYTHON) scripts/check_dist.py dist

# The smoke tier as `make test` runs it: the combinations that cover every line and Python today.
smoke: dist
	$(MATRIX) smoke --ci --jobs $(SMOKE_JOBS)

# The smoke tier on every line and Python (the README's table comes from it).
smoke-all: dist
	$(MATRIX) smoke --jobs $(SMOKE_JOBS)

$(TWINE): | $(UV)
	$(UV) pip install --quiet --python $(TOOLS)/bin/python twine==$(TWINE_VERSION)

clean:
	rm -rf $(TOOLS) $(VENV) $(VENV2) .pytest_cache .ruff_cache build *.egg-info dist .smoke
