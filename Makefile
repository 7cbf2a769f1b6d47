# The two commands a new user runs: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## build the next issue of the bundled example into outbox/
	$(BIN)/digest build

test: $(STAMP)  ## run the whole test suite
	$(BIN)/pytest -q

lint: $(STAMP)  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)  ## print the benchmark figures (a few minutes; bench_memory.py alone takes longer)
	$(BIN)/python bench/bench_build.py --sizes 8,10000
	$(BIN)/python bench/bench_messages.py
	$(BIN)/python bench/bench_personal.py
	$(BIN)/python bench/bench_smtp.py --recipients 1000
	$(BIN)/python bench/bench_startup.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
