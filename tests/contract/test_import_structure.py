"""The house rules of imports (issue #11): no import circles inside a package, no service imports
another, the runtime and the contracts import no service, and a service without a database does
not load SQLAlchemy or asyncpg through the runtime."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {
    "chat_contracts": REPO / "contracts/src/chat_contracts",
    "chat_runtime": REPO / "libs/chat-runtime/src/chat_runtime",
    "auth_service": REPO / "auth-service/src/auth_service",
    "gateway_service": REPO / "gateway-service/src/gateway_service",
    "message_service": REPO / "message-service/src/message_service",
    "presence_service": REPO / "presence-service/src/presence_service",
    "file_service": REPO / "file-service/src/file_service",
}
SERVICES = {name for name in PACKAGES if name.endswith("_service")}


def module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(module: str, path: Path) -> Iterator[str]:
    """Every module named by an import anywhere in the file (function-local and TYPE_CHECKING
    imports too: a circle hidden in a function is still a circle of the design)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def graph(package: str) -> dict[str, set[str]]:
    root = PACKAGES[package]
    modules = {module_name(package, root, p): p for p in root.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for target in imports_of(module, path):
            if target in modules and target != module and not module.startswith(f"{target}."):
                edges[module].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_circles(package: str) -> None:
    assert cycles(graph(package)) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_package_imports_a_service_but_itself(package: str) -> None:
    root = PACKAGES[package]
    offenders = sorted(
        f"{path.relative_to(REPO)} imports {target}"
        for path in root.rglob("*.py")
        for target in imports_of(module_name(package, root, path), path)
        if target.split(".")[0] in SERVICES - {package}
    )
    assert offenders == []


def test_the_gateway_loads_no_database_driver() -> None:
    """The gateway has no database: importing and building it must not pull SQLAlchemy or
    asyncpg in through the runtime (they cost memory and start-up time in every gateway)."""
    probe = (
        "import sys\n"
        "from gateway_service.bootstrap import build\n"
        "import gateway_service.__main__\n"
        "build()\n"
        "loaded = sorted(m for m in ('sqlalchemy', 'asyncpg') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_the_http_layer_loads_no_broker_client_or_database_driver() -> None:
    """HTTP basics (problems, readiness) ask whether a failure means "a dependency is down"
    without pulling the broker client or SQLAlchemy into every importer."""
    probe = (
        "import sys\n"
        "import chat_runtime.http\n"
        "loaded = sorted(m for m in ('aio_pika', 'sqlalchemy', 'asyncpg') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
