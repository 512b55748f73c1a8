# tallywatch — `make demo` and `make test` work on a fresh machine with Python 3.11 and apt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)

.PHONY: install demo test lint eval bench redis-server clean

$(UV):
	@echo "== installing uv (the package installer)"
	$(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	@echo "== installing tallywatch and its dependencies into $(VENV)"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --quiet --extra dev --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed

# Tests start their own redis-server on a free loopback port; install it if it is missing.
redis-server:
	@command -v redis-server >/dev/null || { echo "== installing redis-server (apt)"; \
	  (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null || \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq redis-server) >/dev/null; }

demo: install
	$(VENV)/bin/tallywatch demo

test: install redis-server
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

eval: install
	$(PY) bench/eval.py

bench: install redis-server
	@for b in bench/*.py; do [ "$$b" = bench/eval.py ] && continue; echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
