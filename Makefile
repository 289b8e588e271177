# SolarWater: `make demo` runs the stack locally, `make test` runs lint and the tests.
# Both install what they need first (venv, pip packages, Debian packages).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the tests, demo and benchmarks run for real (chromium: the web pages'
# browser test; gammu-smsd: the SMS modem test).
APT_PACKAGES := mosquitto mosquitto-clients influxdb influxdb-client libmosquitto-dev gammu-smsd chromium
PYTEST_ARGS ?=
# test files run in parallel, a whole file to one process (its fixtures stay together); the
# tests mostly wait on real servers, so 3 processes fit 2 cores
PYTEST_WORKERS ?= 3
# e.g. make demo DEMO_ARGS='--speed 60 --duration 6h'
DEMO_ARGS ?=

.PHONY: install system-packages demo test lint format bench bench-peers bench-spool bench-queries clean

install: system-packages $(VENV)/.installed

system-packages:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: install
	$(PY) -m devstack.demo $(DEMO_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

bench-spool: install
	$(PY) -m bench.spool

bench-queries: install
	$(PY) -m bench.queries

bench-peers: install
	$(PY) -m bench.peers

clean:
	rm -rf $(VENV) .demo .mypy_cache .ruff_cache .pytest_cache
