# ccp — developer commands. `make help` lists them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run test test-unit test-integration lint fmt bench bench-quick clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install the project (again when pyproject changes)

run: ## start the whole stack (Caddy :3000, proxy-core :3001, proxy-data :3002)
	./run-split.sh

test: $(STAMP) ## run the whole suite (unit and integration)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-unit: $(STAMP) ## run the unit tests only
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

test-integration: $(STAMP) ## run the integration tests only (real hypercorn and Caddy processes)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration

lint: $(STAMP) ## ruff (lint and format check) and mypy --strict on the packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP) ## format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## benchmark: direct vs proxy-core vs the full stack, and the data side; prints a table, writes JSON
	$(BIN)/python bench/run.py

bench-quick: $(STAMP) ## a short benchmark run (about a minute), to check the bench itself works
	$(BIN)/python bench/run.py --quick

clean: ## remove caches (keeps .venv and data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
