#!/usr/bin/env bash
# Run one test tier: pytest over the given paths that exist (globs may match nothing yet).
# Exit code 5 ("no tests collected") passes, so a tier whose directories are still empty is green.
# Usage: scripts/pytest-tier.sh NAME PATH... [-- extra pytest args]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
name="$1"; shift
paths=(); extra=()
while [ "$#" -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  [ -e "$1" ] && paths+=("$1")
  shift
done
if [ "${#paths[@]}" -eq 0 ]; then
  printf 'test-%s: no test directories yet, nothing to run\n' "$name"
  exit 0
fi
printf 'test-%s: %s\n' "$name" "${paths[*]}"
.venv/bin/python -m pytest -p chat_devtools.pytest_plugin -q -ra "${paths[@]}" "${extra[@]}"
code=$?
if [ "$code" -eq 5 ]; then
  printf 'test-%s: no tests collected yet\n' "$name"
  exit 0
fi
exit "$code"
