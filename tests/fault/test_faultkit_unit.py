"""The fault tier's replay check (faultkit._assert_replayed), no I/O: a room's stored entries
replayed in seq order must give each target's stored state; a change lost, applied twice or
stored for a deleted target fails it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from faultkit import _assert_replayed

pytestmark = pytest.mark.unit

ANA, BEN = "user-ana", "user-ben"
T0 = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)


def row(seq: int, kind: str, sender: str = ANA, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"m{seq}",
        "seq": seq,
        "kind": kind,
        "sender_id": sender,
        "client_msg_id": f"c{seq}",
        "text": None,
        "target_id": None,
        "emoji": None,
        "added": None,
        "created_at": T0.replace(second=seq),
        "edited_at": None,
        "deleted": False,
        "state_seq": seq,
    }
    return base | fields


def room() -> tuple[list[dict[str, Any]], dict[tuple[str, str, str], int], dict[Any, str]]:
    rows = [
        row(1, "text", text="fixed", edited_at=T0.replace(second=2), state_seq=4),
        row(2, "edit", text="fixed", target_id="m1"),
        row(3, "reaction", BEN, target_id="m1", emoji="👍", added=True),
        row(4, "reaction", ANA, target_id="m1", emoji="🎉", added=True),
        row(5, "text", BEN, text="", deleted=True, edited_at=T0.replace(second=6), state_seq=8),
        row(6, "edit", BEN, text="", target_id="m5"),
        row(7, "reaction", ANA, target_id="m5", emoji="👍", added=True),
        row(8, "delete", BEN, target_id="m5"),
        row(9, "system", BEN, text="Ben joined the channel"),
    ]
    reactions = {("m1", "👍", BEN): 3, ("m1", "🎉", ANA): 4}
    sent = {
        (ANA, "c1"): "typo",
        (ANA, "c2"): "fixed",
        (BEN, "c5"): "secret",
        (BEN, "c6"): "secret, edited",
    }
    return rows, reactions, sent


def test_a_consistent_room_replays_to_its_stored_state() -> None:
    _assert_replayed(*room())


def test_a_reaction_row_lost_or_left_after_a_delete_fails() -> None:
    rows, reactions, sent = room()
    with pytest.raises(AssertionError, match="reactions stored"):
        _assert_replayed(rows, {("m1", "👍", BEN): 3}, sent)
    with pytest.raises(AssertionError, match="reactions stored"):
        _assert_replayed(rows, reactions | {("m5", "👍", ANA): 7}, sent)


def test_a_reaction_entry_applied_twice_fails() -> None:
    rows, reactions, sent = room()
    rows.insert(3, row(3, "reaction", BEN, target_id="m1", emoji="👍", added=True) | {"id": "x"})
    with pytest.raises(AssertionError, match="already held"):
        _assert_replayed(rows, reactions, sent)


def test_an_edit_without_its_effect_or_a_deleted_text_kept_fails() -> None:
    rows, reactions, sent = room()
    rows[0] = rows[0] | {"text": "typo"}
    with pytest.raises(AssertionError, match="replay gives"):
        _assert_replayed(rows, reactions, sent)
    rows, reactions, sent = room()
    rows[5] = rows[5] | {"text": "secret, edited"}  # the delete left its edit's text
    with pytest.raises(AssertionError, match="keep text"):
        _assert_replayed(rows, reactions, sent)


def test_a_state_seq_not_moved_by_a_change_fails() -> None:
    rows, reactions, sent = room()
    rows[0] = rows[0] | {"state_seq": 2}
    with pytest.raises(AssertionError, match="replay gives"):
        _assert_replayed(rows, reactions, sent)
