# Two commands for a newcomer: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8080
# The SMART app (smart_app/, JavaScript): npm ci when the lock file changes, then esbuild
# into cds_service/static/smart/ (served at /smart/; built here, never committed).
SMART_APP := smart_app
SMART_MODULES := $(SMART_APP)/node_modules/.ci-stamp
SMART_BUILT := cds_service/static/smart/.build-stamp
SMART_SOURCES := $(SMART_APP)/build.mjs $(SMART_APP)/launch.html $(SMART_APP)/index.html \
	$(SMART_APP)/favicon.svg $(wildcard $(SMART_APP)/src/*)

.PHONY: run test lint typecheck check serve-production clean demo bench deadcode

# Installing compiles cds_service/_jsonscan.c (gcc and Python's headers): again when it changes.
$(STAMP): pyproject.toml cds_service/_jsonscan.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SMART_MODULES): $(SMART_APP)/package.json $(SMART_APP)/package-lock.json
	cd $(SMART_APP) && npm ci --no-audit --no-fund
	touch $(SMART_MODULES)

$(SMART_BUILT): $(SMART_MODULES) $(SMART_SOURCES)
	cd $(SMART_APP) && node build.mjs
	touch $(SMART_BUILT)

## Build the SMART app into cds_service/static/smart/ (needs node >= 20 and npm).
smart-app: $(SMART_BUILT)
.PHONY: smart-app

# The service serves the app: make run, make test and make demo build it first.
run test demo: $(SMART_BUILT)

## Serve locally in the development profile on 127.0.0.1:$(PORT).
run: $(STAMP)
	CDS_PROFILE=development PORT=$(PORT) $(PY) -m cds_service serve

## Lint, type-check and run the whole test suite, with branch coverage of the product: it
## fails under the floor in pyproject.toml (`.venv/bin/coverage report` lists what is missed).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest --cov --cov-report=

## A local EHR environment until Ctrl-C: SEKMET FHIR server with synthetic patients, the
## service under gunicorn, curl commands and CDS Hooks sandbox links (all on 127.0.0.1).
demo: $(STAMP)
	$(PY) -m demo

## The benchmark: the service against a bare Flask floor, one table (a few minutes).
bench: $(STAMP)
	$(PY) -m bench.run

.PHONY: golden fixtures

## Rewrite the golden answers (tests/rules/golden), printing a diff of every change.
golden: $(STAMP)
	$(PY) -m tests.rules.golden update

## Rewrite the request fixtures (tests/rules/fixtures, tests/vignettes) from their builder.
fixtures: $(STAMP)
	$(PY) -m tests.rules.make_fixtures

## Code nothing uses (vulture; configured in pyproject.toml, false positives in
## vulture_whitelist.py).
deadcode: $(STAMP)
	$(VENV)/bin/vulture

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var $(SMART_APP)/node_modules \
		cds_service/static/smart
