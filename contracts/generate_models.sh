#!/usr/bin/env bash
# Regenerate src/chat_contracts/models.py from schemas/ (pass --check to only verify it is current).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../.venv/bin/python}"
[ -x "$python" ] || python=python3
exec "$python" "$here/generate_models.py" "$@"
