# Two commands matter: `make run` (everything on this machine, Ctrl-C stops it) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PY := .venv/bin/python
TIER := scripts/pytest-tier.sh

.PHONY: help setup run lint test test-unit test-contract test-integration test-e2e test-fault \
	test-frontend nginx-config

help:
	@echo "make run     start the whole product at http://localhost:8080 (Ctrl-C stops it)"
	@echo "make test    lint, then every test tier in order: unit contract integration e2e fault frontend"
	@echo "make setup   install what is missing (idempotent)"
	@echo "make lint    ruff + mypy --strict"

setup:
	scripts/setup.sh

run: setup
	scripts/run.sh

lint:
	scripts/lint.sh

nginx-config:
	$(PY) -m chat_devtools.stack render-nginx

# Each tier stops `make test` on its first failure; an empty tier passes.
test:
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-contract
	$(MAKE) --no-print-directory test-integration
	$(MAKE) --no-print-directory test-e2e
	$(MAKE) --no-print-directory test-fault
	$(MAKE) --no-print-directory test-frontend

test-unit:
	$(TIER) unit $(wildcard */tests/unit) $(wildcard libs/*/tests/unit) contracts/tests

test-contract:
	$(TIER) contract tests/contract

test-integration:
	$(TIER) integration $(wildcard */tests/integration) $(wildcard libs/*/tests/integration)

# test_stack_ready and test_make_run_heals start and stop `make run` themselves on the standard
# ports, so they run first, one after the other; the rest share one stack (reused when one
# already answers, else started once).
STACK_TESTS := tests/e2e/test_stack_ready.py tests/e2e/test_make_run_heals.py
test-e2e:
	$(TIER) e2e-stack $(STACK_TESTS)
	$(TIER) e2e tests/e2e tests/security -- $(addprefix --ignore=,$(STACK_TESTS))

test-fault:
	$(TIER) fault-runtime $(wildcard libs/*/tests/fault)
	$(TIER) fault tests/fault

test-frontend:
	@if [ ! -f frontend/package.json ]; then echo "test-frontend: no frontend/ yet"; exit 0; fi
	scripts/setup.sh
	cd frontend && npm test
	@if grep -q '"e2e"' frontend/package.json; then \
		CHAT_E2E_BASE_URL=http://localhost:8080 CHROMIUM_PATH="$$(command -v chromium || true)" \
		$(PY) -m chat_devtools.stack exec -- npm --prefix frontend run e2e; \
	else echo "test-frontend: no e2e script yet"; fi
