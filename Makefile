# tallywatch — `make demo` and `make test` work on a fresh machine with Python 3.11 and apt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(PYTHON) -m uv

.PHONY: install demo test lint eval bench bench-crawl-full redis-server chromium clean

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

# A few minutes: each benchmark at a size that shows its figures. bench-crawl-full is the issue's
# 1,000 feeds x 20 entries x 50 cycles (about an hour on 2 cores).
bench: install redis-server
	$(PY) bench/extract.py
	$(PY) bench/events.py
	$(PY) bench/pipeline.py
	$(PY) bench/delivery.py
	$(PY) bench/crawl.py --feeds 100 --entries 20 --cycles 5

bench-crawl-full: install redis-server
	$(PY) bench/crawl.py --feeds 1000 --entries 20 --cycles 50

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
