#!/usr/bin/env bash
# What `make run` does after setup: the whole product in the foreground; Ctrl-C stops it all.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
exec .venv/bin/python -m chat_devtools.stack run "$@"
