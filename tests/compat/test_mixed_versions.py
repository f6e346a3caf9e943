"""Mixed versions (issue #12): one service one release behind, the others current.

For each scenario of conftest.py (the previous release's gateway with everything else current;
the previous release's message-service with everything else current), two users sign up and
sign in through the edge, share a room, open sockets and go through api-v1's basics: send and
ack, fan-out, catch-up after a reconnect (`after_seq`), presence (`presence.subscribe`).

From the tolerant release (0.2.0) on as the previous release, the same stacks also send a v1.1
entry (a reaction) through the older service and show it refused (an `error` frame) or held
(no ack), and never stored wrongly (the room's history shows nothing for it); over REST it is
403 `feature_disabled` from a current message-service (features off) and 422 `unsupported` from
the previous one. With 0.1.0 as the previous release, that part only runs where the current
gateway faces the old message-service: the current gateway refuses v1.1 kinds itself while the
feature is off.

test_mixed_entries.py: entries on, a reaction and a `forbidden` refusal crossing a gateway one
release behind.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

for _path in (str(Path(__file__).parent), str(Path(__file__).resolve().parents[2])):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from compat_stack import MixedStack  # noqa: E402

from tests.support.chat import Edge, Socket, User, open_edge  # noqa: E402

# Includes the scenario's stack start (fixture setup) on a busy two-core machine.
pytestmark = [pytest.mark.timeout(240)]

# The first release whose services tolerate v1.1 entries (api-v1.1 preamble, item 1).
TOLERANT_RELEASE = "0.2.0"
# The first release whose message-service implements them (and so refuses one with
# `feature_disabled` while the feature is off, instead of `unsupported`).
ENTRIES_RELEASE = "0.3.0"
# Refusal codes of a v1.1 entry while its feature is off or unknown (api-v1.1 preamble).
REFUSAL_CODES = {"unsupported", "feature_disabled"}
# A send neither acked nor refused within this long counts as held.
HOLD_S = 3.0
WAIT_S = 10.0
# api-v1 §4 `message`: what both releases must agree on (later releases may add fields).
V1_FIELDS = ("id", "room_id", "seq", "kind", "sender_id", "text", "client_msg_id", "created_at")


def v1(message: dict[str, Any]) -> dict[str, Any]:
    return {k: message.get(k) for k in V1_FIELDS}


async def _pair(edge: Edge) -> tuple[User, User, str]:
    alice = await edge.new_user("compat_a")
    bob = await edge.new_user("compat_b")
    room = await alice.create_room()
    await bob.join(room["id"])
    return alice, bob, str(room["id"])


async def _barrier(socket: Socket) -> None:
    """Frames are handled in order: a pong means every frame sent before it was handled."""
    await socket.send({"type": "ping"})
    await socket.wait_for("pong", timeout=WAIT_S)


async def test_send_ack_fanout_catchup_presence(mixed: MixedStack) -> None:
    where = mixed.where()
    async with open_edge(mixed.edge_url) as edge:
        alice, bob, room_id = await _pair(edge)

        # Presence: Bob watches Alice (and Alice watches Bob) before Alice comes online.
        async with bob.socket() as bob_ws:
            await bob_ws.send({"type": "presence.subscribe", "user_ids": [alice.id]})
            await _barrier(bob_ws)
            async with alice.socket() as alice_ws:
                await alice_ws.send({"type": "presence.subscribe", "user_ids": [bob.id]})
                await _barrier(alice_ws)
                online = await bob_ws.wait_for(
                    "presence",
                    lambda f: f.get("user_id") == alice.id and f.get("status") == "online",
                    timeout=WAIT_S,
                )
                assert online["last_seen_at"], f"{where} {online}"
                listed = await bob.ok("GET", "/v1/presence", params={"user_ids": alice.id})
                assert [u["status"] for u in listed["users"]] == ["online"], f"{where} {listed}"

                # Send, ack, fan-out.
                cmid = await alice_ws.send_message(room_id, "hello across versions")
                acked = await alice_ws.wait_ack(cmid, timeout=WAIT_S)
                assert acked["seq"] == 1, f"{where} {acked}"
                assert acked["kind"] == "text", f"{where} {acked}"
                assert acked["text"] == "hello across versions", f"{where} {acked}"
                new = await bob_ws.wait_for(
                    "message.new", lambda f: f["message"]["id"] == acked["id"], timeout=WAIT_S
                )
                assert v1(new["message"]) == v1(acked), f"{where} fan-out differs from the ack"
                await alice_ws.wait_for(  # the sender's own connections get it too
                    "message.new", lambda f: f["message"]["id"] == acked["id"], timeout=WAIT_S
                )

                # Bob goes away: Alice sees him offline; she sends two more meanwhile.
                await bob_ws.close()
                await alice_ws.wait_for(
                    "presence",
                    lambda f: f.get("user_id") == bob.id and f.get("status") == "offline",
                    timeout=WAIT_S,
                )
                missed = []
                for text in ("while you were away 1", "while you were away 2"):
                    sent = await alice_ws.send_message(room_id, text)
                    missed.append(await alice_ws.wait_ack(sent, timeout=WAIT_S))
                assert [m["seq"] for m in missed] == [2, 3], f"{where} {missed}"

                # Bob reconnects and catches up with after_seq, then gets live frames again.
                async with bob.socket() as bob_again:
                    caught = await bob.history(room_id, after_seq=acked["seq"])
                    assert [v1(m) for m in caught] == [v1(m) for m in missed], (
                        f"{where} catch-up after seq 1: {caught}"
                    )
                    later = await alice_ws.send_message(room_id, "welcome back")
                    latest = await alice_ws.wait_ack(later, timeout=WAIT_S)
                    live = await bob_again.wait_for(
                        "message.new", lambda f: f["message"]["id"] == latest["id"], timeout=WAIT_S
                    )
                    assert live["message"]["seq"] == 4, f"{where} {live}"

        everything = await bob.history(room_id)
        assert [m["seq"] for m in everything] == [1, 2, 3, 4], f"{where} {everything}"
        assert {m["sender_id"] for m in everything} == {alice.id}, where


# -- v1.1 entries through the older service -------------------------------------------------------


async def _send_and_classify(socket: Socket, frame: dict[str, Any]) -> tuple[str, Any]:
    """Send `frame` and say what became of it: ("refused", error frame), ("stored", message)
    when an ack or message.new came back, or ("held", None) after HOLD_S of neither."""
    cmid = frame["client_msg_id"]
    start = len(socket.frames)
    await socket.send(frame)
    deadline = time.monotonic() + HOLD_S
    while True:
        for got in socket.frames[start:]:
            if got.get("type") == "error" and got.get("ref") == cmid:
                return "refused", got
            if got.get("type") in ("message.ack", "message.new"):
                message = got["message"]
                if message.get("client_msg_id") == cmid:
                    return "stored", message
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "held", None
        await socket.wait_change(min(remaining, 0.5))


async def test_v11_entry_through_the_older_service_is_refused_or_held(mixed: MixedStack) -> None:
    where = mixed.where()
    release = mixed.previous.release
    tolerant = release.at_least(TOLERANT_RELEASE)
    if not tolerant and mixed.scenario.previous == "gateway":
        # ---- v1.1 HOOK -----------------------------------------------------------------------
        # Runs by itself once the previous release is >= 0.2.0 (the tolerant release), whose
        # gateway forwards every message.send field and relays refusals with unknown codes.
        pytest.skip(
            f"previous release {release.version} is the non-tolerant release: its gateway "
            "forwards only the v1 fields of message.send, so a v1.1 entry sent through it would "
            "reach message-service as a plain message (the defect the tolerant release "
            f"{TOLERANT_RELEASE} fixes). This check runs once the previous release is "
            f">= {TOLERANT_RELEASE}."
        )
    async with open_edge(mixed.edge_url) as edge:
        alice, _bob, room_id = await _pair(edge)
        target = await alice.send_rest(room_id, "react to me")
        before = (await alice.room(room_id))["last_seq"]
        async with alice.socket() as ws:
            reaction = {
                "type": "message.send",
                "client_msg_id": str(uuid.uuid4()),
                "room_id": room_id,
                "kind": "reaction",
                "target_id": target["id"],
                "emoji": "\N{THUMBS UP SIGN}",
                "added": True,
            }
            outcome, detail = await _send_and_classify(ws, reaction)
            if tolerant:
                # Through the older service: refused (unsupported / feature_disabled) or held.
                assert outcome in ("refused", "held"), f"{where} v1.1 entry {outcome}: {detail}"
            else:
                # The old message-service knows no v1.1 entries; the current gateway in front of
                # it must refuse them itself while the feature is off.
                assert outcome == "refused", (
                    f"{where} the current gateway must answer a v1.1 entry with an error frame "
                    f"(code unsupported or feature_disabled) while the feature is off; got "
                    f"{outcome}: {detail}"
                )
            if outcome == "refused":
                assert detail["code"] in REFUSAL_CODES, f"{where} {detail}"
            if tolerant:
                # Over REST too (message-service itself): a current message-service with the
                # feature off says 403 feature_disabled, a tolerant one without it 422
                # unsupported.
                body = {k: v for k, v in reaction.items() if k not in ("type", "room_id")}
                body["client_msg_id"] = str(uuid.uuid4())
                r = await alice.post(f"/v1/rooms/{room_id}/messages", json=body)
                wanted = (
                    (422, "unsupported")
                    if mixed.scenario.previous == "message"
                    and not release.at_least(ENTRIES_RELEASE)
                    else (403, "feature_disabled")
                )
                assert (r.status_code, r.json().get("code")) == wanted, f"{where} {r.text}"
            # Never stored wrongly: nothing new in the room, in particular not as plain text.
            await _barrier(ws)
            after = await alice.history(room_id, after_seq=before)
            assert after == [], f"{where} stored for a v1.1 entry: {after}"
            assert (await alice.room(room_id))["last_seq"] == before, where
            # The socket still works for v1 sends.
            cmid = await ws.send_message(room_id, "still fine")
            assert (await ws.wait_ack(cmid, timeout=WAIT_S))["seq"] == before + 1, where
