# ChatFlow: `make up` runs the local stack, `make test` runs every check.
# Each target installs what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: test lint typecheck unit up down reset seed status clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=25.1"
	$(BIN)/python -m pip install -q -e . --group dev --group infra
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

web/dist/index.html: $(shell find web/src web/index.html web/package.json -type f 2>/dev/null)
	cd web && npm ci --no-audit --no-fund --silent && npm run build

up: $(STAMP) web/dist/index.html
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
