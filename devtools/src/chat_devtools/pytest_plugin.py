"""pytest fixtures for the cross-service tiers (e2e, security, fault) and any package's tests.

Loaded by tests/conftest.py and by `-p chat_devtools.pytest_plugin` in the Makefile.

- `private_rabbitmq`, `private_postgres`: a fresh private instance per test, removed afterwards.
- `running_stack` / `edge_url`: the product on the standard ports. A stack that already answers
  (someone ran `make run`) is reused; otherwise one is started like `make run` and stopped at the
  end of the session.
- `make_stack`: start an extra stack on free ports (e.g. against a private broker) and stop it
  after the test; fault tests use its `kill(name)` / `restart(name)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from chat_devtools.config import (
    DEFAULT_EDGE_PORT,
    config_from_env,
    default_services,
    find_repo_root,
)
from chat_devtools.private import PrivatePostgres, PrivateRabbitMQ, free_port
from chat_devtools.stack import STANDARD_PORTS, Stack, StackError, probe_standard_stack


@dataclass
class RunningStack:
    """The stack the e2e tiers talk to. `stack` is None when it was started by someone else."""

    edge_url: str
    service_urls: dict[str, str]
    stack: Stack | None = None
    started_here: bool = False
    notes: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def running_stack() -> Iterator[RunningStack]:
    urls = {name: f"http://127.0.0.1:{port}" for name, port in STANDARD_PORTS.items()}
    status = probe_standard_stack(DEFAULT_EDGE_PORT)
    if all(code is not None for code in status.values()):
        not_ready = {n: c for n, c in status.items() if n != "edge" and c != 200}
        if not_ready:
            pytest.fail(f"a stack runs on the standard ports, but is not ready: {not_ready}")
        yield RunningStack(edge_url="http://localhost:8080", service_urls=urls)
        return
    taken = {n: c for n, c in status.items() if c is not None}
    if taken:
        pytest.fail(
            f"some standard ports answer but not all ({taken}); stop that partial stack first"
        )
    stack = Stack(config_from_env())
    try:
        stack.prepare()
        stack.start()
    except StackError as exc:
        pytest.fail(f"could not start the stack: {exc}", pytrace=False)
    try:
        yield RunningStack(
            edge_url="http://localhost:8080", service_urls=urls, stack=stack, started_here=True
        )
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def edge_url(running_stack: RunningStack) -> str:
    return running_stack.edge_url


@pytest.fixture
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    instance = PrivateRabbitMQ()
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    instance = PrivatePostgres()
    try:
        instance.start()
        yield instance
    finally:
        instance.close()


MakeStack = Callable[..., Stack]


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[MakeStack]:
    """Factory: `make_stack(amqp_url=..., postgres_url=..., gateways=2, edge=True, env={...})`.

    Every replica gets a free port; logs go to the test's tmp_path. The returned Stack is
    prepared (databases, migrations) and started; it is stopped after the test.
    """
    started: list[Stack] = []

    def factory(
        *,
        amqp_url: str | None = None,
        postgres_url: str | None = None,
        gateways: int = 1,
        presences: int = 1,
        messages: int = 1,
        edge: bool = False,
        env: Mapping[str, str] | None = None,
        services: tuple[str, ...] | None = None,
        prepare: bool = True,
    ) -> Stack:
        base = config_from_env(find_repo_root())
        specs = default_services(
            auth=(free_port(),),
            gateway=tuple(free_port() for _ in range(gateways)),
            message=tuple(free_port() for _ in range(messages)),
            presence=tuple(free_port() for _ in range(presences)),
            file=(free_port(),),
        )
        if services is not None:
            specs = tuple(s for s in specs if s.name in services)
        config = replace(
            base,
            services=specs,
            amqp_url=amqp_url or base.amqp_url,
            postgres_url=postgres_url or base.postgres_url,
            edge_port=free_port() if edge else None,
            log_dir=tmp_path / "log",
            run_dir=tmp_path / "run",
            env=dict(env or {}),
            # Own accounts only on the shared servers (created there with rabbitmqctl and the
            # superuser); a private broker or database keeps its admin account (ADR 0015).
            service_accounts=base.service_accounts and amqp_url is None and postgres_url is None,
        )
        stack = Stack(config)
        if prepare:
            stack.prepare()
        started.append(stack)
        stack.start()
        return stack

    yield factory
    for stack in reversed(started):
        stack.stop()
