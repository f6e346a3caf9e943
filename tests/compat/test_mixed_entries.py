"""Entries across a gateway one release behind (issue #14, api-v1.1 A).

The stack (conftest `mixed_entries`): the previous release's gateway behind the edge, with
`CHAT_FEATURES=` (so its clients are not offered edit, delete or react), and a current gateway
beside it; current auth, message and presence services with `entries` on. Bob has a socket on
each gateway, Alice one on the previous gateway.

- A reaction Bob makes through the current gateway reaches Alice's and Bob's sockets on the
  previous gateway as `message.new`, every field of the entry carried (kind, target_id, emoji,
  added) exactly as the sender's ack has it.
- Bob's edit of Alice's message is refused `forbidden`: the sending socket gets the `error`
  frame, and so does Bob's socket on the previous gateway (a refusal reaches every tab of the
  sender where nobody waits for it), which relays the code as it came. Nothing is stored.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

for _path in (str(Path(__file__).parent), str(Path(__file__).resolve().parents[2])):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from compat_stack import MixedStack  # noqa: E402

from tests.support.chat import Socket, open_edge, open_socket  # noqa: E402

# Includes the scenario's stack start (fixture setup) on a busy two-core machine.
pytestmark = [pytest.mark.timeout(240)]

WAIT_S = 10.0
THUMBS_UP = "\N{THUMBS UP SIGN}"
ENTRY_FIELDS = ("id", "room_id", "seq", "kind", "sender_id", "client_msg_id", "created_at")


async def _barrier(socket: Socket) -> None:
    """Frames are handled in order: a pong means every frame sent before it was handled."""
    await socket.send({"type": "ping"})
    await socket.wait_for("pong", timeout=WAIT_S)


def _with_cmid(cmid: str) -> Any:
    return lambda frame: frame["message"].get("client_msg_id") == cmid


async def test_a_reaction_and_a_forbidden_refusal_cross_the_previous_gateway(
    mixed_entries: MixedStack,
) -> None:
    where = mixed_entries.where()
    async with open_edge(mixed_entries.edge_url) as edge:
        alice = await edge.new_user("compat_a")
        bob = await edge.new_user("compat_b")
        room = await alice.create_room()
        room_id = str(room["id"])
        await bob.join(room_id)
        target = await alice.send_rest(room_id, "react to me")

        async with (
            alice.socket() as alice_old,  # the edge: the previous gateway
            bob.socket() as bob_old,
            open_socket(mixed_entries.current_gateway_ws_url, bob.token) as bob_new,
        ):
            # The previous gateway does not offer entries; the current one does.
            for socket in (alice_old, bob_old):
                assert "entries" not in socket.ready.get("features", []), f"{where} {socket.ready}"
            assert "entries" in bob_new.ready["features"], f"{where} {bob_new.ready}"

            # A reaction through the current gateway, seen through the previous one.
            cmid = str(uuid.uuid4())
            await bob_new.send(
                {
                    "type": "message.send",
                    "client_msg_id": cmid,
                    "room_id": room_id,
                    "kind": "reaction",
                    "target_id": target["id"],
                    "emoji": THUMBS_UP,
                    "added": True,
                }
            )
            acked = await bob_new.wait_ack(cmid, timeout=WAIT_S)
            assert acked["kind"] == "reaction", f"{where} {acked}"
            assert (acked["target_id"], acked["emoji"], acked["sender_id"]) == (
                target["id"],
                THUMBS_UP,
                bob.id,
            ), f"{where} {acked}"
            assert acked["added"] is not False, f"{where} {acked}"
            assert acked["seq"] == target["seq"] + 1, f"{where} {acked}"
            for socket in (alice_old, bob_old):
                new = await socket.wait_for("message.new", _with_cmid(cmid), timeout=WAIT_S)
                assert new["message"] == acked, f"{where} carried differently: {new}"
            for field in ENTRY_FIELDS:
                assert field in acked, f"{where} {field} missing: {acked}"

            # Bob edits Alice's message through the current gateway: `forbidden`, for the
            # sending socket and for Bob's socket on the previous gateway; Alice hears nothing.
            edit_cmid = str(uuid.uuid4())
            await bob_new.send(
                {
                    "type": "message.send",
                    "client_msg_id": edit_cmid,
                    "room_id": room_id,
                    "kind": "edit",
                    "target_id": target["id"],
                    "text": "not yours to edit",
                }
            )
            for socket in (bob_new, bob_old):
                error = await socket.wait_for(
                    "error", lambda f: f.get("ref") == edit_cmid, timeout=WAIT_S
                )
                assert error["code"] == "forbidden", f"{where} {error}"
                assert error["message"], f"{where} {error}"
            await _barrier(alice_old)
            assert not [f for f in alice_old.frames if f.get("type") == "error"], where
            assert not [
                f
                for s in (alice_old, bob_old, bob_new)
                for f in s.frames
                if f.get("type") in ("message.new", "message.ack")
                and f["message"].get("client_msg_id") == edit_cmid
            ], f"{where} the refused edit was delivered"

        # Stored: the reaction (on the target's state too); not stored: the refused edit.
        history = await alice.history(room_id)
        assert [m["seq"] for m in history] == list(range(1, len(history) + 1)), where
        content = [m for m in history if m["kind"] != "system"]  # Bob's join
        assert [m["client_msg_id"] for m in content] == [target["client_msg_id"], cmid], (
            f"{where} {history}"
        )
        stored_target = content[0]
        assert stored_target["text"] == "react to me", f"{where} {stored_target}"
        reactions = [(r["emoji"], r["count"], r["user_ids"]) for r in stored_target["reactions"]]
        assert reactions == [(THUMBS_UP, 1, [bob.id])], f"{where} {stored_target}"
        assert stored_target["state_seq"] == acked["seq"], f"{where} {stored_target}"
