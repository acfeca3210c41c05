# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/dagster_home

.PHONY: setup run test test-fast ui bench sample clean

setup: $(STAMP)

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet
	@touch $(STAMP)

run: $(STAMP)  ## set up, run the whole pipeline on data/raw/, print the year-on-year table
	$(VENV)/bin/ppa run

test: $(STAMP)  ## set up, run the whole test suite
	$(VENV)/bin/pytest -q

test-fast: $(STAMP)  ## the quick inner loop: everything not marked slow
	$(VENV)/bin/pytest -q -m "not slow" -n auto

ui: $(STAMP)  ## the Dagster UI and daemon (sensor and schedule) on the project's instance
	$(VENV)/bin/dagster dev -m pipeline.definitions -h 127.0.0.1 -p 3000

bench: $(STAMP)  ## benchmarks W1-W4 and baselines; prints a table, writes bench/results/latest.json
	$(VENV)/bin/python -m bench.run $(BENCH_ARGS)

sample: $(STAMP)  ## regenerate the synthetic sample in data/raw/
	$(VENV)/bin/ppa sample

clean:
	rm -rf $(VENV) .uv .pytest_cache
