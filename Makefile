# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/dagster_home

.PHONY: setup run test test-fast test-server server-deps ui bench sample clean

setup: $(STAMP)

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock requirements-nodeps.txt
	UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet
	$(UV) pip install --quiet --python $(VENV)/bin/python --no-deps --require-hashes -r requirements-nodeps.txt
	@touch $(STAMP)

run: $(STAMP)  ## set up, run the whole pipeline on data/raw/, print the year-on-year table
	$(VENV)/bin/ppa run

test: $(STAMP)  ## set up, run the whole test suite (server mode apart: make test-server)
	$(VENV)/bin/pytest -q -m "not server" -n auto --durations=15

test-fast: $(STAMP)  ## the quick inner loop: everything not marked slow
	$(VENV)/bin/pytest -q -m "not slow and not server" -n auto

# Server mode (deploy/, README "Running on a server") uses the distribution's PostgreSQL and Caddy;
# its tests also check the systemd units. Installed here when missing (as root, or through sudo).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
server-deps:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || ! command -v caddy >/dev/null \
	    || ! command -v systemd-analyze >/dev/null; then \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends postgresql caddy systemd; fi

test-server: $(STAMP) server-deps  ## the server-mode tests: PostgreSQL, the daemon, the login proxy, the units
	$(VENV)/bin/pytest -q -m server

PORT ?= 3000
ui: $(STAMP)  ## the Dagster UI and daemon (sensor and schedule) on the project's instance: make ui PORT=3001
	$(VENV)/bin/dagster dev -m pipeline.definitions -h 127.0.0.1 -p $(PORT)

bench: $(STAMP)  ## benchmarks W1-W4 and baselines; prints a table, writes bench/results/latest.json
	$(VENV)/bin/python -m bench.run $(BENCH_ARGS)

sample: $(STAMP)  ## regenerate the synthetic sample in data/raw/
	$(VENV)/bin/ppa sample

clean:
	rm -rf $(VENV) .uv .pytest_cache
