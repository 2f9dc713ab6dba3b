# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Without CUDA the CPU build of torch that lies on this machine's disk is pinned;
# an unpinned torch from PyPI is a multi-GB CUDA build. With a GPU, override:
#   make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= $(shell if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then echo "torch"; else echo "torch==2.13.0"; fi)
DB ?= genlift.duckdb
# The peers measured by the benchmarks (mlforecast, ctgan) live in their own venv: their
# pins would downgrade the product's pandas 3. Scripts in benchmarks/peers/ run there.
BENCH_VENV ?= .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_REQ := benchmarks/peers/requirements.txt
DEMO_ARGS ?=

.PHONY: demo test lint typecheck bench bench-env clean venv

$(VENV)/.base: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "genlift needs Python >= 3.11; set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c 'import torch' 2>/dev/null || $(PIP) install -q $(TORCH_SPEC)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.dev

demo: $(VENV)/.base
	$(VENV)/bin/genlift --db $(DB) demo $(DEMO_ARGS)

# Two pytest workers (pytest-xdist), one test file each at a time (module fixtures stay
# on one worker); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: $(VENV)/.dev
	$(PY) -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

$(VENV)/.bench: $(VENV)/.dev
	$(PIP) install -q -e '.[dev,bench]'
	touch $@

$(BENCH_VENV)/.peers: $(BENCH_REQ)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "the bench venv needs Python >= 3.11; set PYTHON=python3.11")'
	test -x $(BENCH_PY) || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q -r $(BENCH_REQ)
	$(BENCH_PY) -c 'import ctgan, lightgbm, mlforecast, pandas; print("peers:", "mlforecast", mlforecast.__version__, "lightgbm", lightgbm.__version__, "pandas", pandas.__version__)'
	touch $@

bench-env: $(BENCH_VENV)/.peers

# GENLIFT_BENCH_PYTHON tells benchmarks/peers where the peers' python is
bench: $(VENV)/.bench $(BENCH_VENV)/.peers
	GENLIFT_BENCH_PYTHON=$(abspath $(BENCH_PY)) $(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) $(BENCH_VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache
