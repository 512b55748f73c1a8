# tallywatch — `make demo` and `make test` work on a fresh machine with Python 3.11 and apt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(PYTHON) -m uv

.PHONY: install demo test lint eval bench redis-server chromium clean

$(VENV)/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || { echo "== installing uv (the package installer)"; \
	  $(PYTHON) -m pip install --quiet uv || $(PYTHON) -m pip install --quiet --user uv; }
	@echo "== installing tallywatch and its dependencies into $(VENV)"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --quiet --extra dev --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed

# Tests start their own redis-server on a free loopback port, and drive Debian's Chromium headless;
# install what is missing (apt, as root or through sudo).
APT_INSTALL = (apt-get update -qq && apt-get install -y -qq $(1)) >/dev/null 2>&1 || \
	(sudo apt-get update -qq && sudo apt-get install -y -qq $(1)) >/dev/null
redis-server:
	@command -v redis-server >/dev/null || { echo "== installing redis-server (apt)"; $(call APT_INSTALL,redis-server); }

chromium:
	@command -v chromium >/dev/null || { echo "== installing chromium (apt)"; $(call APT_INSTALL,chromium); }

demo: install
	$(VENV)/bin/tallywatch demo

test: install redis-server chromium
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
