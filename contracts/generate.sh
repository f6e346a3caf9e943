#!/usr/bin/env bash
# Regenerate src/chat_contracts/names.py and types.py (pass --check to only verify they are current).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../.venv/bin/python}"
[ -x "$python" ] || python=python3
exec "$python" "$here/generate.py" "$@"
