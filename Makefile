# Portico: `make dev` runs Portico locally; `make test` runs every test. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 3000

.PHONY: help dev test lint typecheck fmt bench clean openapi

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock package.json package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

dev: $(STAMP) ## set up, then run Portico on 127.0.0.1:$(PORT) (writes .portico/local.json)
	$(VENV)/bin/portico dev --port $(PORT)

test: $(STAMP) lint typecheck ## set up, lint, type-check, then run the whole test suite
	$(PY) -m pytest -n 2 --dist loadgroup -q

lint: $(STAMP) ## ruff, cfn-lint on the template
	$(VENV)/bin/ruff check .
	$(VENV)/bin/cfn-lint template.yaml

typecheck: $(STAMP) ## mypy over the layer
	$(VENV)/bin/mypy

fmt: $(STAMP) ## format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

openapi: $(STAMP) ## regenerate openapi.json from the endpoint functions (a test fails when it drifts)
	$(PY) infra/openapi.py

clean: ## remove the virtualenv, node_modules and local state
	rm -rf $(VENV) node_modules .portico

bench: $(STAMP) ## gateway vs direct MCP calls, tools/list fan-out, cold start (prints ratios)
	$(PY) bench/gateway.py
