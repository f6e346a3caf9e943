"""Pure blocking rules of api-v1.1 C and the auth.block.changed.v1 event against its contract."""

from __future__ import annotations

import json
import uuid

import pytest
from auth_service.domain.blocks import Target, self_errors, target_exists
from auth_service.events import block_changed
from chat_contracts import decode, encode, names, validate

pytestmark = pytest.mark.unit


def test_nobody_blocks_themselves() -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    errors = self_errors(me, me)
    assert [(e.field, e.code) for e in errors] == [("user_id", "self")]
    assert self_errors(me, other) == []


@pytest.mark.parametrize(
    ("deleted", "blocking", "exists"),
    [(False, True, True), (False, False, True), (True, True, False), (True, False, True)],
)
def test_a_deleted_account_can_be_unblocked_but_not_blocked(
    deleted: bool, blocking: bool, exists: bool
) -> None:
    assert target_exists(Target(uuid.uuid4(), deleted), blocking=blocking) is exists


def test_an_unknown_user_never_exists() -> None:
    assert not target_exists(None, blocking=True)
    assert not target_exists(None, blocking=False)


@pytest.mark.parametrize("blocked", [True, False])
def test_block_changed_is_a_contract_event(blocked: bool) -> None:
    blocker, target = uuid.uuid4(), uuid.uuid4()
    event = block_changed(blocker, target, blocked, 3)
    data = encode(event)
    validate(names.AUTH_BLOCK_CHANGED_V1, json.loads(data))
    assert decode(names.AUTH_BLOCK_CHANGED_V1, data) == event
    assert json.loads(data) == {
        "blocker_id": str(blocker),
        "blocked_id": str(target),
        "blocked": blocked,
        "version": 3,
    }
