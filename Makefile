# The two commands a new user runs: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BYTECODE := $(VENV)/.compiled
SOURCES := $(shell find src -name "*.py")

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Our modules byte-compiled ahead, even where PYTHONDONTWRITEBYTECODE is set (many CI and
# container images set it): without this every `digest` start compiles them anew, ~80 ms.
$(BYTECODE): $(STAMP) $(SOURCES)
	$(BIN)/python -m compileall -q src
	touch $(BYTECODE)

run: $(BYTECODE)  ## build the next issue of the bundled example into outbox/
	$(BIN)/digest build

test: $(BYTECODE)  ## run the whole test suite
	$(BIN)/pytest -q

lint: $(STAMP)  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(BYTECODE)  ## print the benchmark figures (a few minutes; bench_memory.py alone takes longer)
	$(BIN)/python bench/bench_build.py --sizes 8,10000
	$(BIN)/python bench/bench_messages.py
	$(BIN)/python bench/bench_personal.py
	$(BIN)/python bench/bench_smtp.py --recipients 1000
	$(BIN)/python bench/bench_startup.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
