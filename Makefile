# crmflow: `make up` brings the whole system up and shows one event flowing through;
# `make test` runs every test against a real stack of its own. `make help` lists the rest.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_BIN ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK := deploy/local/stack.sh
SERVICES := deploy/local/services.sh
# The test stack runs beside a `make up` stack: own run folder, own ports (deploy/local/test-env.sh).
TEST_SLOT ?= 0
# The benchmark's own stack slot (bench/README.md).
BENCH_SLOT ?= 6
# Where `make test` gets PostgreSQL, Kafka and Connect: local (deploy/local, started by the session
# fixture) or containers (testcontainers, compose's images: needs Docker and a registry).
TEST_STACK ?= local

.PHONY: help install venv up down status demo test test-unit lint typecheck clean reset bench compose-check helm-check image

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements.lock
	@echo "== Python environment ($(VENV)) =="
	test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-deps -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed  ## create the Python environment (pinned: requirements.lock)

install: venv  ## install everything that is missing (PostgreSQL, Kafka jars, Debezium, Python)
	$(STACK) install

up: install  ## start everything, seed a demo practice and its two rules, show an event end to end and a waiting reminder
	@start=$$(date +%s)
	. deploy/local/env.sh   # the ports and folders printed below
	$(STACK) start all
	$(PY) -m crmflow migrate
	$(PY) -m crmflow topics create
	$(STACK) register
	$(SERVICES) start all
	echo "== demo: a patient and an appointment through outbox -> Debezium -> Kafka -> evaluator -> action-runner =="
	$(PY) -m crmflow demo
	echo
	echo "crmflow is up ($$(( $$(date +%s) - start )) s):"
	echo "  rules-api      http://127.0.0.1:$$CRMFLOW_API_PORT  (docs: /docs, web page: /settings/automations)"
	echo "  evaluator      http://127.0.0.1:$$CRMFLOW_EVALUATOR_PORT/metrics"
	echo "  action-runner  http://127.0.0.1:$$CRMFLOW_RUNNER_PORT/metrics"
	echo "  connect-supervisor  http://127.0.0.1:$$CRMFLOW_SUPERVISOR_PORT/status  (restarts a FAILED connector)"
	echo "  Kafka $$CRMFLOW_KAFKA_BOOTSTRAP  Connect $$CRMFLOW_CONNECT_URL  PostgreSQL $$CRMFLOW_PG_HOST:$$CRMFLOW_PG_PORT"
	echo "  logs: $$CRMFLOW_RUN_DIR/logs/   status: make status   stop: make down"

down:  ## stop everything `make up` started
	$(SERVICES) stop all
	$(STACK) stop all

status:  ## what runs
	$(STACK) status
	$(SERVICES) status

test: install  ## run all tests (unit, integration, e2e, image) against a test stack it starts and stops
	. deploy/local/test-env.sh $(TEST_SLOT)
	CRMFLOW_TEST_STACK=$(TEST_STACK) $(PY) -m pytest tests $(PYTEST_ARGS)

image:  ## build the container image (docker, podman or buildah; a local Debian base without a registry)
	deploy/docker/image.sh build

.PHONY: chaos
chaos: install  ## chaos suite at 20,000 events (CI: 2,000): kills/restarts while events stream
	. deploy/local/test-env.sh $(TEST_SLOT)
	CRMFLOW_CHAOS_EVENTS=$${CRMFLOW_CHAOS_EVENTS:-20000} $(PY) -m pytest tests/chaos -m chaos $(PYTEST_ARGS)

.PHONY: chaos-busy
chaos-busy: install  ## the CI chaos suite RUNS times (default 10) with a CPU hog on one core (tests/chaos/busy.py)
	. deploy/local/test-env.sh $(TEST_SLOT)
	$(PY) -m tests.chaos.busy --runs $${RUNS:-10}

test-unit: venv  ## unit tests only (no services needed)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: venv  ## ruff, mypy and shellcheck
	$(PY) -m ruff check services tests bench
	$(PY) -m ruff format --check services tests bench
	$(PY) -m mypy
	shellcheck -x deploy/*/*.sh .ci/run

bench: install  ## end-to-end benchmark on a fresh stack of its own (BENCH_ARGS=--quick: smoke run); bench/README.md
	$(PY) -m bench.e2e --slot $(BENCH_SLOT) --fresh $(BENCH_ARGS)

.PHONY: bench-backtest
bench-backtest: install  ## backtest scan rate (100,000 events of one practice among 1,000,000) and live p99 at 50/s beside it (BENCH_ARGS=--quick)
	$(PY) -m bench.backtest --slot $(BENCH_SLOT) $(BENCH_ARGS)

.PHONY: bench-timed
bench-timed: install  ## timed runs at scale: 100,000 waiting reminders, re-plans + cancels at 1,000/s each, scheduler tick (BENCH_ARGS=--quick)
	$(PY) -m bench.timed --slot $(BENCH_SLOT) $(BENCH_ARGS)

reset: down  ## stop everything and delete all local data
	$(STACK) reset

compose-check: venv  ## validate docker-compose.yml: Compose Specification schema, connector config, env names
	$(PY) -m pytest -q tests/unit/deploy tests/integration/test_deploy_compose.py $(PYTEST_ARGS)

helm-check: venv  ## helm lint + template (default, production-like, Strimzi, KEDA) + Kubernetes schema validation
	$(PY) -m pytest -q tests/integration/test_deploy_helm.py $(PYTEST_ARGS)
