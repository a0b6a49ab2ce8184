# ChatFlow: `make up` runs the local stack, `make test` runs every check.
# Each target installs what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
WEB_STAMP := web/node_modules/.package-lock.json

.PHONY: test lint typecheck unit web up down reset seed status clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/pip || (rm -rf $(VENV) && $(PYTHON) -m venv $(VENV))
	$(BIN)/python -m pip install -q --upgrade "pip>=25.1"
	$(BIN)/python -m pip install -q -e . --group dev --group infra
	@touch $@

$(WEB_STAMP): web/package-lock.json
	cd web && npm ci --no-audit --no-fund

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(WEB_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	bash web/scripts/ensure-chromium.sh
	cd web && npm run build && npm run test:unit
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

web: $(WEB_STAMP)
	cd web && npm run build

up: $(STAMP) web
	$(BIN)/chatflow local up

down: $(STAMP)
	$(BIN)/chatflow local down

reset: $(STAMP)
	$(BIN)/chatflow local reset

seed: $(STAMP)
	$(BIN)/chatflow local seed

status: $(STAMP)
	$(BIN)/chatflow local status

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
