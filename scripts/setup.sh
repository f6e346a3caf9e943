#!/usr/bin/env bash
# Idempotent setup of a development/CI machine: system packages (when missing and root), the one
# Python venv with every package installed editable, the frontend's node_modules and build.
# A second run only checks and skips (stamps in var/setup/ record what was done for which inputs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STAMPS="$ROOT/var/setup"
mkdir -p "$STAMPS"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
PACKAGES=(contracts libs/chat-runtime devtools auth-service gateway-service message-service presence-service)
# CHAT_SETUP_BROWSER=0 skips chromium (only the Playwright journeys need it).
WANT_BROWSER="${CHAT_SETUP_BROWSER:-1}"

log() { printf 'setup: %s\n' "$*"; }

# Hash of the given files/directories' contents (missing ones count as empty), for stamps.
fingerprint() {
  local path
  for path in "$@"; do
    if [ -d "$path" ]; then
      find "$path" -type f -not -path '*/node_modules/*' -not -path '*/dist/*' -print0 \
        | sort -z | xargs -0 -r sha256sum
    elif [ -f "$path" ]; then
      sha256sum "$path"
    fi
  done | sha256sum | cut -d' ' -f1
}

stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_write() { printf '%s' "$2" > "$STAMPS/$1"; }

# --- system packages -------------------------------------------------------------------------
apt_missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || apt_missing+=(nginx)
if [ "$WANT_BROWSER" = "1" ] && ! command -v chromium >/dev/null 2>&1; then
  apt_missing+=(chromium)
fi
if [ "${#apt_missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${apt_missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt run on a shared machine holds the lock for a while: wait instead of failing.
    if ! apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${apt_missing[@]}"; then
      apt-get -o DPkg::Lock::Timeout=600 update
      apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${apt_missing[@]}"
    fi
  else
    log "missing ${apt_missing[*]}: install them (e.g. sudo apt-get install ${apt_missing[*]})"
  fi
else
  log "nginx$([ "$WANT_BROWSER" = "1" ] && echo ', chromium') present"
fi

# --- Python ----------------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
py_inputs=()
for pkg in "${PACKAGES[@]}"; do
  [ -f "$pkg/pyproject.toml" ] && py_inputs+=("$pkg/pyproject.toml")
done
# This script's own tool list counts too: adding a tool here reinstalls.
py_inputs+=("scripts/setup.sh")
py_print="$(fingerprint "${py_inputs[@]}")-$(.venv/bin/python -c 'import sys; print(sys.version)' | tr -d ' \n')"
# Names of the packages already installed editable (a fresh clone's first run has none).
editable="$(.venv/bin/pip list --editable --format=freeze --disable-pip-version-check 2>/dev/null || true)"
all_editable=1
for pkg in "${PACKAGES[@]}"; do
  [ -f "$pkg/pyproject.toml" ] || continue
  name="$(sed -n 's/^name = "\(.*\)"/\1/p' "$pkg/pyproject.toml" | head -1)"
  grep -qi "^${name}==" <<<"$editable" || all_editable=0
done
if stamp_ok python "$py_print"; then
  log "python packages up to date"
elif [ ! -f "$STAMPS/python" ] && [ "$all_editable" = "1" ]; then
  # Installed by hand before this script kept stamps: record instead of reinstalling.
  log "python packages already installed editable"
  stamp_write python "$py_print"
else
  args=()
  for pkg in "${PACKAGES[@]}"; do
    [ -f "$pkg/pyproject.toml" ] && args+=(-e "./$pkg")
  done
  log "pip install ${args[*]}"
  .venv/bin/pip install --quiet --disable-pip-version-check "${args[@]}" \
    pytest pytest-asyncio pytest-timeout hypothesis ruff mypy types-PyYAML types-jsonschema \
    websockets
  stamp_write python "$py_print"
fi

# --- frontend --------------------------------------------------------------------------------
if [ -f frontend/package.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    log "npm is missing: install Node.js 20 (apt-get install nodejs npm) to build the frontend"
    exit 1
  fi
  # Stale = npm's own record of the installed tree is older than the lock file (or missing).
  marker=frontend/node_modules/.package-lock.json
  if [ -f "$marker" ] && [ ! frontend/package-lock.json -nt "$marker" ] \
     && [ ! frontend/package.json -nt "$marker" ]; then
    log "node_modules up to date"
  else
    log "npm ci"
    (cd frontend && npm ci --no-audit --no-fund)
  fi
  build_inputs=(frontend/src frontend/public frontend/index.html frontend/package-lock.json)
  for f in frontend/vite.config.* frontend/tsconfig*.json; do [ -f "$f" ] && build_inputs+=("$f"); done
  build_print="$(fingerprint "${build_inputs[@]}")"
  newest_source="$(find "${build_inputs[@]}" -type f -newer frontend/dist/index.html 2>/dev/null | head -1 || true)"
  if [ -f frontend/dist/index.html ] && stamp_ok build "$build_print"; then
    log "frontend build up to date"
  elif [ -f frontend/dist/index.html ] && [ ! -f "$STAMPS/build" ] && [ -z "$newest_source" ]; then
    log "frontend build newer than its sources"
    stamp_write build "$build_print"
  else
    log "npm run build"
    (cd frontend && npm run build)
    stamp_write build "$build_print"
  fi
else
  log "frontend/package.json not present yet: skipping the frontend"
fi
log "done"
