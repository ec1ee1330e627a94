# stockdb: `make run` starts the local stack, `make test` runs every check.
# Both bootstrap .venv on first use (and again whenever pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LINTED := src tests bench app feature_service

.PHONY: run test check lint typecheck deadcode unit bench fuzz clean venv services

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "stockdb needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/stockdb up

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

deadcode: $(STAMP)
	$(BIN)/vulture

check: lint typecheck deadcode

services: $(STAMP)
	bash scripts/test-services.sh ensure

test: check services
	$(BIN)/python -m pytest -q -p no:randomly --cov=stockdb --cov-report=term:skip-covered

bench: $(STAMP)
	$(BIN)/python -m bench

# The property tests with fresh random examples (make test replays a fixed set).
fuzz: $(STAMP)
	STOCKDB_HYPOTHESIS=explore $(BIN)/python -m pytest -q -p no:randomly tests/property tests/unit

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
