# One task runner: make run | test | lint | bench | bench-scale
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PAPERCHAT := $(VENV)/bin/paperchat
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run install dev test lint bench bench-scale chromium reliability clean

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

# The browser test drives Debian's Chromium: installed here when missing (as root), else the command that does.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser test needs Chromium: run  sudo apt-get install -y chromium" >&2; exit 1; fi; }

test: dev chromium
	$(VENV)/bin/pytest -q

lint: dev
	$(VENV)/bin/ruff check .

bench: install
	$(PY) -m paperchat.evals.bench

# 10k, 100k and 1M synthetic papers, embedded and `chroma run` (hours; disk: about 25 GB a million papers);
# writes runs/scale-<time>/ and docs/scale.png. SCALE_SIZES=10000,100000 for the shorter run.
SCALE_SIZES ?= 10000,100000,1000000
bench-scale: install
	$(PY) -m paperchat.evals.bench_scale --sizes $(SCALE_SIZES) --modes embedded,server --sweep 10000 --onnx-sample 2000 --store-alone 10000 --web-questions 1000

# Bad input, hostile papers and failing dependencies against the installed CLI and web API (about 10 minutes):
# prints the counts, writes runs/reliability-<time>/{report.md,results.jsonl}, fails on any traceback, hang,
# bogus citation, quoted instruction or remote fetch. RELIABILITY_ARGS=--quick runs the ~30-case subset.
RELIABILITY_ARGS ?=
reliability: install
	$(PY) -m paperchat.evals.reliability $(RELIABILITY_ARGS)

clean:
	rm -rf $(VENV) .paperchat runs .pytest_cache
