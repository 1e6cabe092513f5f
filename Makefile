# Kith: `make run` starts the local cloud with a simulated community; `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed

.PHONY: help run test lint format bench reset build deploy deploy-check lock clean deps

help:
	@echo "make run     start the local cloud (anvil chains, moto, every function) and serve the API"
	@echo "make test    install what is needed, lint, and run the whole suite"
	@echo "make lint    ruff, mypy and cfn-lint"
	@echo "make bench   run every bench/*.py (each prints one JSON line last)"
	@echo "make reset   delete the local state folder .state/"
	@echo "make build   sam build: the layers for Lambda's platform (infra/deploy/layers.py) and every function"
	@echo "make deploy  make build, then sam deploy --guided (needs AWS credentials)"
	@echo "make deploy-check   sam validate --lint, sam build, then size, glibc, import and cold-start checks"
	@echo "make lock    re-resolve layers/*/requirements.txt for the Lambda runtime after a pin changes"

$(STAMP_PY): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null || \
	  { echo "error: Kith needs Python 3.11 (found: $$($(PYTHON) --version 2>&1)); install it and run make again" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check ".[dev]"
	@touch $@

$(STAMP_NODE): package.json package-lock.json
	@command -v node >/dev/null || { echo "error: node is not installed; install Node.js 18+ and npm, then run make again" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "error: npm is not installed; install npm (it ships with Node.js), then run make again" >&2; exit 1; }
	@# npm ci would refuse this lock: it records only the anvil binary package for this platform
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(STAMP_PY) $(STAMP_NODE)

run: deps
	$(PY) -m infra.localcloud run $(ARGS)

lint: $(STAMP_PY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared functions infra
	$(VENV)/bin/cfn-lint template.yaml

format: $(STAMP_PY)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# deploy-check before the suite: a stack that would not deploy (size, glibc, imports, cold start) fails fast
test: deps lint deploy-check
	$(PY) -m pytest -q

bench: deps
	@set -e; for script in bench/*.py; do echo "== $$script"; $(PY) $$script; done

reset:
	rm -rf .state

# The SAM CLI comes with the dev dependencies (pyproject.toml); telemetry stays off.
SAM := SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam

build: $(STAMP_PY)
	$(SAM) build

deploy: build
	$(SAM) deploy --guided

deploy-check: $(STAMP_PY)
	$(PY) -m infra.deploy.check

lock: $(STAMP_PY)
	$(PY) -m infra.deploy.layers lock

clean:
	rm -rf .state .aws-sam .pytest_cache .mypy_cache .ruff_cache
