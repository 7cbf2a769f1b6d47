# The two commands a new user runs: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BYTECODE := $(VENV)/.compiled
SOURCES := $(shell find src -name "*.py")

.PHONY: run test lint format bench bench-compare docs reference clean

# Debian's Chromium drives the browser tests (Playwright's own browser download does not
# work everywhere); installed once, as root directly or through sudo.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# `make run` installs what running needs and nothing else (the package and its runtime
# dependencies); `make test`, `make docs` and `make lint` add their tools (the extras of the
# same names in pyproject.toml). `pip install -e '.[dev]'` installs all of them at once.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(VENV)/.installed-%: $(STAMP)
	$(BIN)/pip install --quiet -e '.[$*]'
	touch $@

# Our modules byte-compiled ahead, even where PYTHONDONTWRITEBYTECODE is set (many CI and
# container images set it): without this every `digest` start compiles them anew, ~80 ms.
$(BYTECODE): $(STAMP) $(SOURCES)
	$(BIN)/python -m compileall -q src
	touch $(BYTECODE)

run: $(BYTECODE)  ## build the next issue of the bundled example into outbox/
	$(BIN)/digest build

# SpamAssassin (Debian's, with its shipped rules) scores the bundled example's email.
SPAMASSASSIN := /usr/bin/spamassassin
# Dovecot (Debian's) is the IMAP server the inbox tests read returned mail from.
DOVECOT := /usr/sbin/dovecot
# axe-core (npm) checks the email, the archive and the preview for accessibility problems.
AXE := tests/.tools/node_modules/axe-core/axe.min.js

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null

$(SPAMASSASSIN):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq spamassassin >/dev/null

$(DOVECOT):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dovecot-imapd >/dev/null

# The deploy/ checks: systemd-analyze verifies the units, caddy and nginx check their configs
# (and nginx carries a one-click unsubscribe to a running `digest serve`).
DEPLOY_TOOLS := /usr/bin/systemd-analyze /usr/bin/caddy /usr/sbin/nginx

$(DEPLOY_TOOLS):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq systemd caddy nginx >/dev/null

$(AXE):
	command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	npm install --prefix tests/.tools --no-audit --no-fund --silent axe-core@4

# The suite builds the docs too (tests/test_docs.py), so `make test` adds the docs tools.
test: $(BYTECODE) $(VENV)/.installed-test $(VENV)/.installed-docs $(CHROMIUM) $(SPAMASSASSIN) $(DOVECOT) $(DEPLOY_TOOLS) $(AXE)  ## install what the tests need (Chromium, SpamAssassin, Dovecot, systemd, Caddy, nginx, axe-core) and run them all
	$(BIN)/pytest -q

lint: $(VENV)/.installed-lint  ## ruff (lint, complexity ≤ 15, format check), size limits, mypy, import contracts
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/python tools/limits.py src
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(VENV)/.installed-docs  ## build the documentation site into site/ (warnings are errors)
	$(BIN)/mkdocs build --strict

reference: $(VENV)/.installed-docs  ## write the configuration reference (docs/configuration.md) from the settings model
	$(BIN)/python docs/hooks/config_reference.py

format: $(VENV)/.installed-lint
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(BYTECODE) $(VENV)/.installed-test  ## print the benchmark figures (a few minutes; bench_memory.py alone takes longer)
	$(BIN)/python bench/bench_build.py --sizes 8,10000
	$(BIN)/python bench/bench_messages.py
	$(BIN)/python bench/bench_personal.py
	$(BIN)/python bench/bench_smtp.py --recipients 1000
	$(BIN)/python bench/bench_startup.py
	$(BIN)/python bench/bench_import.py

# Before (BEFORE=ref; bench/compare.py's default: the start of this round) beside this working
# tree, in one sitting, as a Markdown table; QUICK=1 for small sizes (about five minutes).
bench-compare: $(BYTECODE) $(VENV)/.installed-test  ## the benchmarks before a git ref (BEFORE=ref) and after (this tree) side by side
	$(BIN)/python bench/compare.py $(if $(BEFORE),--before $(BEFORE)) $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
