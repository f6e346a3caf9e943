"""The `auth.block.changed.v1` handler: the change it hands the projection, in its transaction
(the store replaced)."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from chat_contracts import names, types
from chat_runtime.messaging import Envelope
from message_service.handlers import blocks
from message_service.handlers.deps import BusDeps
from message_service.store import blocks as block_store

pytestmark = pytest.mark.unit

BLOCKER, BLOCKED = uuid.uuid4(), uuid.uuid4()


def envelope(blocked: bool, version: int) -> Envelope[types.AuthBlockChangedV1]:
    body = types.AuthBlockChangedV1(
        blocker_id=str(BLOCKER), blocked_id=str(BLOCKED), blocked=blocked, version=version
    )
    return Envelope(
        type_name=names.AUTH_BLOCK_CHANGED_V1,
        body=body,
        message_id=None,
        correlation_id=None,
        headers={},
        routing_key=names.AUTH_BLOCK_CHANGED_V1,
    )


async def test_a_change_is_applied_in_one_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[tuple[Any, ...]] = []
    transactions: list[object] = []
    session = object()

    async def apply_change(s: Any, *args: Any) -> bool:
        assert s is session
        applied.append(args)
        return True

    async def in_transaction(_: BusDeps, work: Any) -> Any:
        transactions.append(session)
        return await work(session)

    monkeypatch.setattr(block_store, "apply_change", apply_change)
    monkeypatch.setattr(blocks, "in_transaction", in_transaction)
    deps = BusDeps(sessions=cast(Any, None), relay=None, delivery_limit=5)
    await blocks.handle_changed(deps, envelope(True, 3))
    await blocks.handle_changed(deps, envelope(False, 4))
    assert applied == [(BLOCKER, BLOCKED, True, 3), (BLOCKER, BLOCKED, False, 4)]
    assert len(transactions) == 2
