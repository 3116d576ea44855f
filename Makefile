# DB-DGCN teaching series: the two commands are `make lab` and `make test`.
#
#   make lab        create .venv, install, generate the embedded dataset, open JupyterLab on notebooks/
#                   (LAB_ARGS="--no-browser --port=8890" passes options to jupyter lab)
#   make test       create .venv, install, ruff, the test suite, the tests that train tiny models once
#                   more with another seed, then the notebooks through nbval with every exercise's
#                   solution inserted (one smoke run proves both)
#                   (PYTEST_ARGS="-m 'not browser'" passes options to the test-suite run; the suite
#                   runs on every core: PARALLEL= runs it in one process)
#   make notebooks  execute notebooks/NN_*.ipynb in order, in place, headless, in full mode, timed
#                   (SMOKE=1: the short version CI runs, into notebooks/.smoke/: the committed
#                   notebooks keep their full outputs)
#   make data       generate the embedded synthetic dataset in data/synthetic (if missing)
#   make clean      remove caches and the generated synthetic data (keeps .venv, runs/ and data/coco;
#                   `make distclean` also removes .venv)
#
# The virtual environment is created with $(PYTHON) (python3 >= 3.10) and reinstalled only when
# pyproject.toml changes (the stamp file .venv/.installed records the last install).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := notebooks,dev
SYNTHETIC := data/synthetic
SOLVED := notebooks/.solved
SMOKE_COPIES := notebooks/.smoke
LAB_ARGS ?=
PYTEST_ARGS ?=
# The suite runs on every core: pytest-xdist, one torch thread per worker, each test file on one worker
# (a file's shared fixtures, a trained run or the browser tests' JupyterLab, are made once).
# PARALLEL= runs it in one process.
PARALLEL ?= -n auto --dist loadfile

# Run tools from the venv with its bin/ first on PATH: the `python3` kernelspec that ipykernel
# installs calls plain `python`, so notebooks must find the venv's interpreter through PATH.
RUN := PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)"
SMOKE_ENV := DBDGCN_SMOKE=1
SMOKE ?=

# jupyter refuses to start as root without --allow-root (containers, CI, rented GPU boxes).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.DEFAULT_GOAL := help
.PHONY: help install lab test lint notebooks data clean distclean

help:
	@sed -n '1,15p' Makefile | sed 's/^# \{0,1\}//'

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.10 is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "could not create $(VENV): on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"; \
		exit 1; }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

$(SYNTHETIC)/generator.json: | $(STAMP)
	$(RUN) python -m dbdgcn_lib data synthetic --root $(SYNTHETIC)

data: $(SYNTHETIC)/generator.json

lab: $(STAMP) $(SYNTHETIC)/generator.json
	$(RUN) jupyter lab notebooks/ $(ALLOW_ROOT) $(LAB_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(RUN) $(SMOKE_ENV) python -m pytest -q $(PARALLEL) --durations=10 $(PYTEST_ARGS) tests
	$(RUN) $(SMOKE_ENV) python -m pytest -q $(PARALLEL) $(PYTEST_ARGS) -m tiny_training --tiny-seed 1 tests  # no seed's luck
	@if ls notebooks/[0-9][0-9]_*.ipynb >/dev/null 2>&1; then \
		echo "$(RUN) python scripts/solved_notebooks.py"; \
		$(RUN) python scripts/solved_notebooks.py || exit 1; \
		echo "$(RUN) $(SMOKE_ENV) python -m pytest -q --nbval-lax --nbval-current-env $(SOLVED)/"; \
		$(RUN) $(SMOKE_ENV) python -m pytest -q --nbval-lax --nbval-current-env $(SOLVED)/; \
	else \
		echo "no notebooks in notebooks/ yet: nbval step skipped"; \
	fi

notebooks: $(STAMP) $(SYNTHETIC)/generator.json
	$(RUN) python scripts/run_notebooks.py $(if $(filter 1 true yes,$(SMOKE)),--smoke --output-dir $(SMOKE_COPIES),)

clean:
	rm -rf .pytest_cache .ruff_cache build dist $(SYNTHETIC) data/synthetic-* runs/notebook* runs/quick runs/figures \
		$(SOLVED)
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print \
		| xargs rm -rf

distclean: clean
	rm -rf $(VENV) *.egg-info
