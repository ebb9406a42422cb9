# One task runner: make run | test | lint | bench
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PAPERCHAT := $(VENV)/bin/paperchat
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run install dev test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

run: install
	$(PAPERCHAT) ingest
	$(PAPERCHAT) serve --host $(HOST) --port $(PORT)

test: dev
	$(VENV)/bin/pytest -q

lint: dev
	$(VENV)/bin/ruff check .

bench: install
	$(PY) -m paperchat.evals.bench

clean:
	rm -rf $(VENV) .paperchat runs .pytest_cache
