"""Fixtures of the mixed-version test (see compat_stack.py and docs/releasing.md).

- `previous_tree` (session): the previous release (`chat_devtools.previous_release`) checked out
  in a detached git worktree under var/compat/, removed at the end. A release whose COMMIT is not
  in this clone fails every test here loudly, saying what to do.
- `mixed` (module, one per scenario, started once and shared by the scenario's tests):
    previous-gateway   the previous release's gateway + current auth, message, presence
    previous-message   the previous release's message-service + current auth, gateway, presence
- `mixed_entries` (module): previous-gateway-entries, the previous release's gateway (behind the
  edge) and a current gateway beside it, current auth, message, presence with `entries` on.
Ports: `CHAT_COMPAT_BASE_PORT` (default 28100) + 1..5, edges + 80 / + 90 / + 70.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_devtools import infra
from chat_devtools.config import find_repo_root
from chat_devtools.previous_release import (
    PreviousReleaseError,
    PreviousTree,
    checked_out,
    find_previous_release,
)
from chat_devtools.stack import StackError

# compat_stack beside this file and tests/support are plain modules, not installed packages;
# --import-mode=importlib does not put their directories on sys.path by itself.
ROOT = find_repo_root()
for _path in (str(Path(__file__).parent), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from compat_stack import (  # noqa: E402
    ENTRIES_SCENARIO,
    SCENARIOS,
    MixedStack,
    Scenario,
    mixed_stack,
)


@pytest.fixture(scope="session")
def previous_tree() -> Iterator[PreviousTree]:
    try:
        release = find_previous_release(ROOT)
        services = sorted({s.previous for s in (*SCENARIOS, ENTRIES_SCENARIO)})
        with checked_out(ROOT, release, services) as tree:
            yield tree
    except PreviousReleaseError as exc:
        pytest.fail(f"mixed-version test: {exc}", pytrace=False)


def _started(scenario: Scenario, previous_tree: PreviousTree) -> Iterator[MixedStack]:
    try:
        with mixed_stack(scenario, previous_tree, ROOT) as mixed:
            yield mixed
    except (StackError, infra.InfraError, PreviousReleaseError) as exc:
        pytest.fail(
            f"{scenario.name} ({scenario.description}; previous release "
            f"{previous_tree.release}): {exc}",
            pytrace=False,
        )


@pytest.fixture(scope="module", params=SCENARIOS, ids=[s.name for s in SCENARIOS])
def mixed(request: pytest.FixtureRequest, previous_tree: PreviousTree) -> Iterator[MixedStack]:
    yield from _started(request.param, previous_tree)


@pytest.fixture(scope="module")
def mixed_entries(previous_tree: PreviousTree) -> Iterator[MixedStack]:
    yield from _started(ENTRIES_SCENARIO, previous_tree)
