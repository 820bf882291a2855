# Transfer learning with MNIST: every command a learner, instructor or CI needs.
# `make run` and `make test` set everything up themselves on a fresh clone.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3)

# Keep Jupyter's and IPython's per-user state inside this clone, so that two clones
# never share a kernel registration or a profile, and nothing lands in $HOME.
export JUPYTER_CONFIG_DIR := $(CURDIR)/$(VENV)/etc/jupyter
export JUPYTER_DATA_DIR   := $(CURDIR)/$(VENV)/share/jupyter
export IPYTHONDIR         := $(CURDIR)/$(VENV)/ipython
export MPLCONFIGDIR       := $(CURDIR)/$(VENV)/matplotlib
export PYTHONDONTWRITEBYTECODE := 1
# TensorFlow C++ notices would flood the console of `make run`; errors still show.
export TF_CPP_MIN_LOG_LEVEL ?= 2

QUICK  ?=
PARAMS ?=
BENCH_ARGS ?=
LINTED := helpers tests scripts notebooks benchmarks

.PHONY: help setup data lint test test-fast run bench notebooks html lab clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml config/ipython_kernel_config.py
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(v != (3, 11) and \
		f"Python 3.11 is needed, {sys.executable} is {v[0]}.{v[1]}: set PYTHON=/path/to/python3.11")'
	@test -x $(PY) || { echo "Creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@mkdir -p $(VENV)/etc/ipython && cp config/ipython_kernel_config.py $(VENV)/etc/ipython/
	@touch $@
	@echo "Environment ready in $(VENV)"

setup: $(STAMP)  ## Create .venv and install the pinned packages (only when needed)

data: setup  ## Set up, then fetch and verify MNIST into data/
	@$(PY) -m helpers.data

lint: setup  ## ruff on helpers, tests, scripts and notebooks
	$(VENV)/bin/ruff check $(LINTED)

test: data lint  ## Set up, fetch data, lint, unit tests, notebook smoke runs, nbval
	$(PY) -m pytest -m "not notebooks"
	$(PY) -m pytest -m notebooks
	$(PY) -m pytest --nbval --nbval-current-env notebooks

test-fast: data  ## The fast unit tests alone (no notebook runs)
	$(PY) -m pytest -m "not notebooks"

run: data  ## The main job: run notebooks 01-05 into build/ (QUICK=1 for a tiny run)
	$(PY) scripts/run_course.py $(if $(QUICK),--quick) $(PARAMS)

bench: data  ## Time full, frozen and cached-feature training; writes build/bench.json
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

notebooks: data  ## Re-execute the committed notebooks in place with default parameters
	$(PY) scripts/run_course.py --in-place

html: setup  ## Export the executed notebooks to self-contained pages in build/html/
	$(PY) scripts/export_html.py

lab: data  ## Open the notebooks in JupyterLab with the course's kernel
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

clean:  ## Remove build/ and artifacts/ (keeps .venv and data/)
	rm -rf build artifacts
