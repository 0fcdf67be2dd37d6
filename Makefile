# Every target builds .venv first when it is missing (or when pyproject.toml changed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: bench demo test unit lint format proto venv clean

bench: $(STAMP)  ## quick benchmark suite on every variant (results/<run-id>/), then results/REPORT.md
	$(BIN)/lab bench --impl sync,sync-resilient,async --profile quick
	$(BIN)/lab report --out results/REPORT.md  # the committed REPORT.md stays as its runs made it

demo: $(STAMP)  ## start the sync stack, walk a short scenario with the lab CLI, stop it
	$(BIN)/python -m lab.cli.demo

test: $(STAMP) lint  ## lint + format check, then the whole test suite (unit, contract, integration)
	$(BIN)/python -m pytest -q

unit: $(STAMP)  ## the fast unit tests only
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP)  ## ruff lint and format check, mypy, import contracts (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy blog sync_impl async_impl benchmarks lab
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

proto: $(STAMP)  ## regenerate blog/v1 from protos/blog/v1 (the only generated code)
	$(BIN)/python scripts/gen_protos.py

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf .lab .pytest_cache .ruff_cache
