# Two commands matter: `make run` (everything on this machine, Ctrl-C stops it) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PY := .venv/bin/python
TIER := scripts/pytest-tier.sh

.PHONY: help setup run lint test test-unit test-contract test-integration test-e2e test-compat \
	test-fault test-ops test-frontend test-fuzz audit nginx-config release backup restore

help:
	@echo "make run     start the whole product at http://localhost:8080 (Ctrl-C stops it)"
	@echo "make test    lint, then every test tier in order: unit contract integration e2e fuzz compat fault ops frontend"
	@echo "make setup   install what is missing (idempotent)"
	@echo "make lint    ruff + mypy --strict"
	@echo "make release VERSION=x.y.z  cut a release: schema snapshot, versions, CHANGELOG (docs/releasing.md)"
	@echo "make backup  every database, the signing keys and the file store -> var/backups/chat-<time>/"
	@echo "make restore BACKUP=var/backups/chat-<time> [FORCE=1]  (docs/operations.md)"

setup:
	scripts/setup.sh

run: setup
	scripts/run.sh

lint:
	scripts/lint.sh

nginx-config:
	$(PY) -m chat_devtools.stack render-nginx

# Cut a release on a clean tree (docs/releasing.md); it does not commit, it prints the commit.
release:
	@if [ -z "$(VERSION)" ]; then echo "usage: make release VERSION=x.y.z" >&2; exit 2; fi
	$(PY) -m chat_devtools.release $(VERSION)

# Backups of the local product (docs/operations.md): the databases of `make run`, the signing keys
# (var/keys) and the file store (CHAT_FILE_DIR, default var/files). Restore refuses non-empty
# databases or directories unless FORCE=1; stop `make run` first.
backup:
	$(PY) -m chat_devtools.backup create

restore:
	@if [ -z "$(BACKUP)" ]; then echo "usage: make restore BACKUP=var/backups/chat-<time> [FORCE=1]" >&2; exit 2; fi
	$(PY) -m chat_devtools.backup restore "$(BACKUP)" $(if $(filter 1,$(FORCE)),--force)

# Each tier stops `make test` on its first failure; an empty tier passes.
test:
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-contract
	$(MAKE) --no-print-directory test-integration
	$(MAKE) --no-print-directory test-e2e
	$(MAKE) --no-print-directory test-fuzz
	$(MAKE) --no-print-directory test-compat
	$(MAKE) --no-print-directory test-fault
	$(MAKE) --no-print-directory test-ops
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

# schemathesis over every service's OpenAPI, signed in, stateful; a private stack on ports
# 28701-28705 (CHAT_FUZZ_BASE_PORT), 140 s of fuzzing at most (CHAT_FUZZ_BUDGET_S).
test-fuzz:
	$(TIER) fuzz tests/fuzz

# Known advisories in uv.lock (pip-audit) and the frontend's runtime packages (npm audit);
# exceptions with a reason and an expiry in security/audit-exceptions.toml.
audit:
	$(PY) -m chat_devtools.audit

# The previous release's gateway / message-service beside the current services (a git worktree
# of contracts/released/<version>/COMMIT, private stacks on ports 281xx; docs/releasing.md).
test-compat:
	$(TIER) compat tests/compat

test-fault:
	$(TIER) fault-runtime $(wildcard libs/*/tests/fault)
	$(TIER) fault tests/fault

# Backups: a private stack on ports 282xx filled, backed up, restored into other databases and
# started again (docs/operations.md); the compose backup script against this PostgreSQL.
test-ops:
	$(TIER) ops tests/ops

test-frontend:
	@if [ ! -f frontend/package.json ]; then echo "test-frontend: no frontend/ yet"; exit 0; fi
	scripts/setup.sh
	cd frontend && npm test
	@if grep -q '"e2e"' frontend/package.json; then \
		CHAT_E2E_BASE_URL=http://localhost:8080 CHROMIUM_PATH="$$(command -v chromium || true)" \
		$(PY) -m chat_devtools.stack exec -- npm --prefix frontend run e2e; \
	else echo "test-frontend: no e2e script yet"; fi
