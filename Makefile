# Transfer learning with MNIST: every command a learner, instructor or CI needs.
# `make run` and `make test` set everything up themselves on a fresh clone.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The environment everything runs in: .venv/ in this clone, made on first use; or
# an existing one, e.g. conda's: `make test VENV=$CONDA_PREFIX` (the pins are then
# installed into it).
VENV   ?= .venv
ENVDIR := $(abspath $(VENV))
PY     := $(ENVDIR)/bin/python
STAMP  := $(ENVDIR)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)

# Keep Jupyter's and IPython's per-user state inside the environment, so that two
# clones never share a kernel registration or a profile, and nothing lands in $HOME.
export JUPYTER_CONFIG_DIR := $(ENVDIR)/etc/jupyter
export JUPYTER_DATA_DIR   := $(ENVDIR)/share/jupyter
export IPYTHONDIR         := $(ENVDIR)/ipython
export MPLCONFIGDIR       := $(ENVDIR)/matplotlib
export PYTHONDONTWRITEBYTECODE := 1
# TensorFlow C++ notices would flood the console of `make run`; errors still show.
export TF_CPP_MIN_LOG_LEVEL ?= 2

QUICK  ?=
PARAMS ?=
BENCH_ARGS ?=
LINTED := helpers tests scripts notebooks benchmarks

.PHONY: help setup data lint test test-fast test-pythons one-python run study bench notebooks html student lab clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml config/ipython_kernel_config.py
	@# 3.11.4 to 3.13 (pyproject.toml): fetch_mnist.py needs tarfile's filter="data"
	@$$(test -x $(PY) && echo $(PY) || echo $(PYTHON)) -c 'import sys; v = tuple(sys.version_info[:3]); ok = (3, 11, 4) <= v < (3, 14); \
		sys.exit(None if ok else "Python 3.11.4 to 3.13 is needed, %s is %s: " \
		"set PYTHON=/path/to/python3.12, say" % (sys.executable, ".".join(map(str, v))))'
	@test -x $(PY) || { echo "Creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(ENVDIR); }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@# The kernel setting that keeps TensorFlow's C++ log lines out of notebooks
	@mkdir -p $(ENVDIR)/etc/ipython && cp config/ipython_kernel_config.py $(ENVDIR)/etc/ipython/
	@touch $@
	@echo "Environment ready in $(VENV)"

setup: $(STAMP)  ## Create .venv and install the pinned packages (only when needed)

data: setup  ## Set up, then fetch and verify MNIST into data/
	@$(PY) scripts/fetch_mnist.py

lint: setup  ## ruff on helpers, tests, scripts and notebooks
	$(ENVDIR)/bin/ruff check $(LINTED)

# nbval re-executes the committed notebooks; their artifacts go to a throw-away
# folder (COURSE_ARTIFACTS, read by helpers.reporting), never to the user's.
test: data lint  ## Set up, fetch data, lint, unit tests, notebook smoke run, nbval
	$(PY) -m pytest -m "not notebooks"
	$(PY) -m pytest -m notebooks
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
		COURSE_ARTIFACTS="$$scratch" $(PY) -m pytest --nbval --nbval-current-env notebooks

test-fast: data  ## The fast unit tests alone (no notebook run, no benchmark)
	$(PY) -m pytest -m "not notebooks and not slow"

# Each other Python of 3.11-3.13 found (on the PATH, or pyenv's) gets a throw-away environment
# with the pins, the unit tests and notebook 02 with tiny parameters (not in
# `make test`: each takes minutes to install).
PYTHONS ?= 3.11 3.12 3.13
test-pythons: setup  ## Unit tests and one notebook on every other Python 3.11-3.13 found
	@own=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	for v in $(PYTHONS); do \
		py=$$(for c in $$(command -v python$$v) $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -n 1); do \
			$$c -c '' 2>/dev/null && { echo $$c; break; }; done); \
		if [ "$$v" = "$$own" ]; then echo "== Python $$v: skipped, it is $(VENV)'s"; continue; fi; \
		if [ -z "$$py" ]; then echo "== Python $$v: skipped, not found"; continue; fi; \
		echo "== Python $$v ($$py)"; dir=$$(mktemp -d); \
		$(MAKE) --no-print-directory one-python VENV=$$dir/venv PYTHON=$$py \
			&& rm -rf "$$dir" || { rm -rf "$$dir"; exit 1; }; \
	done

one-python: data
	$(PY) -m pytest -m "not notebooks"
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && COURSE_ARTIFACTS="$$out" \
		$(ENVDIR)/bin/papermill notebooks/02_base_training.ipynb "$$out/02.ipynb" \
		--cwd notebooks -k python3 --no-progress-bar -p epochs 1 -p max_train_samples 1000 \
		-y "reproduction_seeds: [0]" -p rerun True

# QUICK=1 runs three kernels side by side on tiny models: one TensorFlow thread each
# keeps them from fighting over the cores (79 s against 83 s here with two, 2 cores).
QUICK_THREADS := TF_NUM_INTRAOP_THREADS=$${TF_NUM_INTRAOP_THREADS:-1} \
	TF_NUM_INTEROP_THREADS=$${TF_NUM_INTEROP_THREADS:-1}
run: data  ## The main job: run notebooks 01-06 into build/ (QUICK=1 for a tiny run)
	$(if $(QUICK),$(QUICK_THREADS)) $(PY) scripts/run_course.py $(if $(QUICK),--quick) $(PARAMS)

# STUDY_JOBS=N worker processes (default 1), STUDY_SCHEDULER=host:port of a Dask
# scheduler, STUDY_PRECISION=mixed_bfloat16: read by helpers/study.py.
study: data  ## Make and record the study's runs in results/ (resumes; QUICK=1: tiny, not in results/)
	$(PY) scripts/run_course.py --study $(if $(QUICK),--quick)

bench: data  ## Time full, frozen and cached-feature training; writes build/bench.json
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

notebooks: data  ## Re-execute the committed notebooks in place with default parameters
	$(PY) scripts/run_course.py --in-place

html: setup  ## Self-contained pages in build/html/: full/ (solutions folded) and student/
	$(PY) scripts/export_html.py

student: setup  ## Write the student edition (solutions removed, outputs cleared) to build/student/
	$(PY) scripts/make_student.py

lab: data  ## Open the notebooks in JupyterLab with the course's kernel
	$(ENVDIR)/bin/jupyter lab --notebook-dir=notebooks

clean:  ## Remove build/ and artifacts/ (keeps .venv and data/)
	rm -rf build artifacts
