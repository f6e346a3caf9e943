#!/usr/bin/env bash
# Idempotent setup of a development/CI machine: system packages (when missing and root), the one
# Python venv from uv.lock (every package editable, dev tools included), the frontend's
# node_modules and build. A second run only checks and skips (`uv sync` has nothing to do; stamps
# in var/setup/ record which inputs the frontend build was made from).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STAMPS="$ROOT/var/setup"
mkdir -p "$STAMPS"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
# CHAT_SETUP_BROWSER=0 skips chromium (only the Playwright journeys need it).
WANT_BROWSER="${CHAT_SETUP_BROWSER:-1}"
NODE_MIN=20.19.0

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
# Emoji in the journeys' screenshots (reactions, the picker) instead of empty boxes.
if [ "$WANT_BROWSER" = "1" ] && [ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
  apt_missing+=(fonts-noto-color-emoji)
fi
# promtool checks and unit-tests the alert rules (make test-contract); Debian ships it only in
# the prometheus package, whose server is disabled again right after (below).
command -v promtool >/dev/null 2>&1 || apt_missing+=(prometheus)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${apt_missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt run on a shared machine holds the lock for a while: wait instead of failing.
    if ! apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${apt_missing[@]}"; then
      apt-get -o DPkg::Lock::Timeout=600 update
      apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${apt_missing[@]}"
    fi
    if [[ " ${apt_missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus || true
    fi
  else
    log "missing ${apt_missing[*]}: install them (e.g. sudo apt-get install ${apt_missing[*]})"
  fi
else
  log "nginx, promtool$([ "$WANT_BROWSER" = "1" ] && echo ', chromium') present"
fi

# --- Python ----------------------------------------------------------------------------------
# uv, pinned, in its own small venv (var/tools/); then .venv exactly as uv.lock says: every
# workspace package editable, the runtime dependencies and the dev tools (pytest, ruff, mypy...).
UV_VERSION=0.13.8
UV_HOME="$ROOT/var/tools/uv-$UV_VERSION"
UV="$UV_HOME/bin/uv"
if [ ! -x "$UV" ]; then
  log "installing uv $UV_VERSION into ${UV_HOME#"$ROOT"/}"
  rm -rf "$UV_HOME"
  "$PYTHON" -m venv "$UV_HOME"
  "$UV_HOME/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
# uv has its own certificate roots; a machine whose HTTPS goes through its own CA (pip's
# PIP_CERT points at it) needs uv to use that bundle too.
if [ -z "${SSL_CERT_FILE:-}" ]; then
  for bundle in "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$bundle" ] && [ -f "$bundle" ]; then export SSL_CERT_FILE="$bundle"; break; fi
  done
fi
# The machine's Python, never one uv would download.
export UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT="$ROOT/.venv"
if [ "${CHAT_SETUP_LOCK_CHECK:-0}" = "1" ]; then
  # CI: uv.lock must match every pyproject.toml (`sync --frozen` installs it without asking).
  log "uv lock --check"
  "$UV" lock --check --quiet
fi
log "uv sync --frozen (.venv as uv.lock says)"
"$UV" sync --frozen --all-packages --quiet --python "$(command -v "$PYTHON")"
# Bytecode ahead of time (a no-op run takes ~3 s): a service that starts, or restarts after a
# crash, then loads .pyc instead of compiling every module of its libraries, also where
# PYTHONDONTWRITEBYTECODE is set. It halves start-up, which `make run`'s 5 s restart budget needs.
log "compileall (.venv and the packages' sources)"
"$ROOT/.venv/bin/python" -m compileall -q -j 0 \
  "$("$ROOT/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
  libs/*/src contracts/src devtools/src ./*-service/src >/dev/null

# --- frontend --------------------------------------------------------------------------------
if [ -f frontend/package.json ]; then
  # Vite 8 needs Node.js >= 20.19; Debian 12's own nodejs package is 18 (see README).
  node_version="$(node --version 2>/dev/null || true)"
  node_version="${node_version#v}"
  if ! command -v npm >/dev/null 2>&1 || [ -z "$node_version" ] \
     || [ "$(printf '%s\n' "$NODE_MIN" "$node_version" | sort -V | head -1)" != "$NODE_MIN" ]; then
    log "the frontend needs Node.js >= $NODE_MIN with npm; found: ${node_version:-none}."
    log "Debian 12's nodejs is 18: install Node.js 20 LTS from nodejs.org or NodeSource (README, Prerequisites)"
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
