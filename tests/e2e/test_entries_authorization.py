"""Edit, delete and react through the edge: who may do what, over REST and WebSocket alike
(api-v1.1 A, issue #14).

Every refusal of api-v1.1 A's table that exists in this release, each sent both ways:

- target absent, in another room, not a `text` entry, or deleted: 404 / `not_found`;
- edit of another's entry, delete of another's by a non-admin (in a direct room: anyone),
  reaction on a `system` entry: 403 / `forbidden`;
- bad emoji, 21st distinct emoji, missing or bad `text` on an edit: 422 `validation_failed`
  naming the field / `bad_request` (`message_too_long`);
- a `client_msg_id` used again for other content: 409 / `client_msg_id_reused`;

and nothing refused is stored (the room's `last_seq` does not move). The success paths: edit,
delete and react over REST (the target's state in history) and WebSocket (`message.ack` to the
sender, `message.new` to the others), the channel creator deleting another's message, and a
no-op reaction acked with `noop: true` and the current target (REST 200 `{message, noop}`).

`feature_disabled` needs a stack with `CHAT_FEATURES=`, which the shared e2e stack is not: the
gateway's unit tests (gateway-service/tests/unit/test_entries.py) and the mixed-version tier
(tests/compat, every service with `CHAT_FEATURES=`) cover it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    Edge,
    Frame,
    Socket,
    User,
    assert_problem,
    open_edge,
    unique_name,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

WAIT_S = 10.0
THUMBS_UP = "\N{THUMBS UP SIGN}"
# 21 distinct RGI emoji (api-v1.1 A: at most 20 distinct per message).
FACES = [
    "\N{GRINNING FACE}",
    "\N{GRINNING FACE WITH SMILING EYES}",
    "\N{FACE WITH TEARS OF JOY}",
    "\N{ROLLING ON THE FLOOR LAUGHING}",
    "\N{SMILING FACE WITH OPEN MOUTH}",
    "\N{SMILING FACE WITH OPEN MOUTH AND SMILING EYES}",
    "\N{SMILING FACE WITH OPEN MOUTH AND COLD SWEAT}",
    "\N{SMILING FACE WITH OPEN MOUTH AND TIGHTLY-CLOSED EYES}",
    "\N{WINKING FACE}",
    "\N{SMILING FACE WITH SMILING EYES}",
    "\N{FACE SAVOURING DELICIOUS FOOD}",
    "\N{SMILING FACE WITH SUNGLASSES}",
    "\N{SMILING FACE WITH HEART-SHAPED EYES}",
    "\N{FACE THROWING A KISS}",
    "\N{SMILING FACE WITH SMILING EYES AND THREE HEARTS}",
    "\N{KISSING FACE}",
    "\N{KISSING FACE WITH SMILING EYES}",
    "\N{SMILING FACE WITH TEAR}",
    "\N{KISSING FACE WITH CLOSED EYES}",
    "\N{SLIGHTLY SMILING FACE}",
    "\N{HUGGING FACE}",
]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def entries_edge_url(request: pytest.FixtureRequest) -> str:
    return resolve_edge_url(request)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def entries_edge(entries_edge_url: str) -> AsyncIterator[Edge]:
    async with open_edge(entries_edge_url) as edge:
        yield edge


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def trio(entries_edge: Edge) -> AsyncIterator[list[User]]:
    """Alice (who creates the channels), Bob and Carol: pooled accounts (registration is
    throttled per address), who leave the channels made here at the end."""
    users = await entries_edge.pooled_users(3)
    yield users
    for user in await entries_edge.pooled_users(3):
        await user.leave_all_channels()


@dataclass
class Timeline:
    """A channel of Alice's that Bob and Carol joined, with one entry of each kind to aim at."""

    room_id: str
    other_room_id: str
    alice_text: dict[str, Any]
    bob_text: dict[str, Any]
    other_room_text: dict[str, Any]  # Alice's, in another channel of hers
    edit_entry: dict[str, Any]
    reaction_entry: dict[str, Any]
    deleted_text: dict[str, Any]
    system_entry: dict[str, Any]  # Bob's `member_joined`


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def timeline(trio: list[User]) -> Timeline:
    alice, bob, carol = trio
    room_id = str((await alice.create_room(unique_name("entries")))["id"])
    other_room_id = str((await alice.create_room(unique_name("elsewhere")))["id"])
    await bob.join(room_id)
    await carol.join(room_id)
    alice_text = await alice.send_rest(room_id, "Alice's words")
    bob_text = await bob.send_rest(room_id, "Bob's words")
    other_room_text = await alice.send_rest(other_room_id, "somewhere else")
    edit_entry = created(await rest(bob, room_id, "edit", bob_text["id"], text="Bob's edit"))
    reaction_entry = created(await rest(carol, room_id, "reaction", bob_text["id"], emoji="👍"))
    deleted_text = await bob.send_rest(room_id, "gone soon")
    created(await rest(bob, room_id, "delete", deleted_text["id"]))
    joins = [
        m
        for m in await alice.history(room_id)
        if m["kind"] == "system" and m.get("event") == "member_joined"
    ]
    assert [m["sender_id"] for m in joins] == [bob.id, carol.id], joins
    return Timeline(
        room_id=room_id,
        other_room_id=other_room_id,
        alice_text=alice_text,
        bob_text=bob_text,
        other_room_text=other_room_text,
        edit_entry=edit_entry,
        reaction_entry=reaction_entry,
        deleted_text=deleted_text,
        system_entry=joins[0],
    )


# --- helpers -------------------------------------------------------------------------------------


def entry_body(kind: str, target_id: str | None, cmid: str | None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"client_msg_id": cmid or str(uuid.uuid4()), "kind": kind}
    if target_id is not None:
        body["target_id"] = target_id
    if kind == "reaction":
        body.setdefault("emoji", THUMBS_UP)
    body.update(fields)
    return body


async def rest(
    user: User,
    room_id: str,
    kind: str,
    target_id: str | None,
    *,
    cmid: str | None = None,
    **fields: Any,
) -> httpx.Response:
    """POST an entry (`kind` edit / delete / reaction) of `user` to the room."""
    body = entry_body(kind, target_id, cmid, **fields)
    return await user.post(f"/v1/rooms/{room_id}/messages", json=body)


def created(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    message: dict[str, Any] = r.json()["message"]
    return message


async def answer(socket: Socket, cmid: str, timeout: float = WAIT_S) -> Frame:
    """The `message.ack` or `error` frame that answers the send `cmid`, whichever comes."""
    waits = [
        asyncio.ensure_future(
            socket.wait_for("message.ack", lambda f: f.get("client_msg_id") == cmid, timeout)
        ),
        asyncio.ensure_future(socket.wait_for("error", lambda f: f.get("ref") == cmid, timeout)),
    ]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, AssertionError):
            await task
    return done.pop().result()


async def ws(
    socket: Socket,
    room_id: str,
    kind: str,
    target_id: str | None,
    *,
    cmid: str | None = None,
    **fields: Any,
) -> Frame:
    """Send an entry over the socket and return its answer (`message.ack` or `error`)."""
    body = entry_body(kind, target_id, cmid, **fields)
    await socket.send({"type": "message.send", "room_id": room_id, **body})
    return await answer(socket, body["client_msg_id"])


async def entry_in_history(user: User, room_id: str, message_id: str) -> dict[str, Any]:
    for message in await user.history(room_id):
        if message["id"] == message_id:
            return message
    raise AssertionError(f"{message_id} not in the history of {room_id}")


ALICE, BOB, CAROL = 0, 1, 2  # indexes into `trio`; Alice created the channel


@dataclass(frozen=True)
class Refusal:
    name: str
    sender: int
    kind: str
    target: str  # a Timeline attribute, or "absent"
    fields: dict[str, Any]
    ws_code: str
    status: int
    code: str
    field: str | None = None  # the field a 422 names


def not_found(name: str, sender: int, kind: str, target: str, **fields: Any) -> Refusal:
    return Refusal(name, sender, kind, target, fields, "not_found", 404, "not_found")


def forbidden(name: str, sender: int, kind: str, target: str, **fields: Any) -> Refusal:
    return Refusal(name, sender, kind, target, fields, "forbidden", 403, "forbidden")


def invalid(
    name: str, kind: str, field: str, ws_code: str = "bad_request", **fields: Any
) -> Refusal:
    """Bad content aimed at a fine target (Bob edits his own text, Carol reacts to it)."""
    sender = BOB if kind == "edit" else CAROL
    return Refusal(name, sender, kind, "bob_text", fields, ws_code, 422, "validation_failed", field)


REFUSALS = [
    # not_found: absent from this room, not a text entry, or deleted
    not_found("edit_absent", ALICE, "edit", "absent", text="x"),
    not_found("react_absent", CAROL, "reaction", "absent"),
    not_found("delete_absent", ALICE, "delete", "absent"),
    not_found("edit_in_another_room", ALICE, "edit", "other_room_text", text="x"),
    not_found("react_in_another_room", ALICE, "reaction", "other_room_text"),
    not_found("react_to_an_edit", CAROL, "reaction", "edit_entry"),
    not_found("edit_an_edit", BOB, "edit", "edit_entry", text="x"),
    not_found("delete_a_reaction", CAROL, "delete", "reaction_entry"),
    not_found("edit_a_system_entry", BOB, "edit", "system_entry", text="x"),
    not_found("edit_deleted", BOB, "edit", "deleted_text", text="x"),
    not_found("react_to_deleted", CAROL, "reaction", "deleted_text"),
    not_found("delete_deleted", BOB, "delete", "deleted_text"),
    # forbidden: another's entry, a non-admin deleting, a reaction on a system entry
    forbidden("edit_anothers", BOB, "edit", "alice_text", text="mine now"),
    forbidden("creator_edits_anothers", ALICE, "edit", "bob_text", text="mine now"),
    forbidden("member_deletes_creators", BOB, "delete", "alice_text"),
    forbidden("member_deletes_members", CAROL, "delete", "bob_text"),
    forbidden("react_to_system", CAROL, "reaction", "system_entry"),
    forbidden("actor_reacts_to_own_system", BOB, "reaction", "system_entry"),
    # content
    invalid("not_an_emoji", "reaction", "emoji", emoji=":+1:"),
    invalid("two_emoji", "reaction", "emoji", emoji=THUMBS_UP * 2),
    # RGI wants U+FE0F after the heart: not fully qualified.
    invalid("unqualified_emoji", "reaction", "emoji", emoji="\N{HEAVY BLACK HEART}"),
    invalid("edit_without_text", "edit", "text"),
    invalid("edit_blank_text", "edit", "text", text=" \n\t "),
    invalid("edit_too_long", "edit", "text", "message_too_long", text="a" * 4001),
]


def target_of(line: Timeline, case: Refusal) -> str:
    if case.target == "absent":
        return str(uuid.uuid4())
    entry: dict[str, Any] = getattr(line, case.target)
    return str(entry["id"])


def rest_mismatch(case: Refusal, r: httpx.Response) -> str | None:
    try:
        body = assert_problem(r, case.status, case.code)
        if case.field is not None:
            fields = [e.get("field", "") for e in body.get("errors", [])]
            assert any(f.split(".")[-1] == case.field for f in fields), body
    except AssertionError as exc:
        return f"{case.name}: {exc}"
    return None


# --- refusals ------------------------------------------------------------------------------------


async def test_every_refusal_over_rest(trio: list[User], timeline: Timeline) -> None:
    before = (await trio[0].room(timeline.room_id))["last_seq"]
    mismatches = []
    for case in REFUSALS:
        r = await rest(
            trio[case.sender],
            timeline.room_id,
            case.kind,
            target_of(timeline, case),
            **case.fields,
        )
        problem = rest_mismatch(case, r)
        if problem is not None:
            mismatches.append(problem)
    assert mismatches == []
    # Nothing refused was stored.
    assert (await trio[0].room(timeline.room_id))["last_seq"] == before


async def test_every_refusal_over_websocket(trio: list[User], timeline: Timeline) -> None:
    before = (await trio[0].room(timeline.room_id))["last_seq"]
    mismatches = []
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(user.socket()) for user in trio]
        for case in REFUSALS:
            frame = await ws(
                sockets[case.sender],
                timeline.room_id,
                case.kind,
                target_of(timeline, case),
                **case.fields,
            )
            got = (frame["type"], frame.get("code"))
            if got != ("error", case.ws_code):
                mismatches.append(f"{case.name}: wanted error {case.ws_code}, got {frame}")
            elif not frame.get("message"):
                mismatches.append(f"{case.name}: no message in {frame}")
        assert mismatches == []
        # Nobody got an entry for any of them.
        for socket in sockets:
            assert socket.of_type("message.new") == [], socket.of_type("message.new")
    assert (await trio[0].room(timeline.room_id))["last_seq"] == before


async def test_a_direct_room_has_no_admin_who_may_delete_anothers_message(
    trio: list[User],
) -> None:
    alice, bob, _ = trio
    dm = await alice.open_dm(bob.id)
    room_id = str(dm["id"])
    bobs = await bob.send_rest(room_id, "only I may delete this")
    r = await rest(alice, room_id, "delete", bobs["id"])
    assert_problem(r, 403, "forbidden")
    async with alice.socket() as socket:
        frame = await ws(socket, room_id, "delete", bobs["id"])
        assert (frame["type"], frame.get("code")) == ("error", "forbidden"), frame
    # Bob may: his own.
    created(await rest(bob, room_id, "delete", bobs["id"]))


async def test_the_21st_distinct_emoji_is_refused_and_a_used_one_still_counts(
    trio: list[User], timeline: Timeline
) -> None:
    alice, bob, carol = trio
    target = await alice.send_rest(timeline.room_id, "react with everything")
    for emoji in FACES[:20]:
        created(await rest(bob, timeline.room_id, "reaction", target["id"], emoji=emoji))
    r = await rest(carol, timeline.room_id, "reaction", target["id"], emoji=FACES[20])
    body = assert_problem(r, 422, "validation_failed")
    assert [e["field"].split(".")[-1] for e in body["errors"]] == ["emoji"], body
    async with carol.socket() as socket:
        frame = await ws(socket, timeline.room_id, "reaction", target["id"], emoji=FACES[20])
        assert (frame["type"], frame.get("code")) == ("error", "bad_request"), frame
        # One of the twenty: fine.
        ack = await ws(socket, timeline.room_id, "reaction", target["id"], emoji=FACES[0])
        assert ack["type"] == "message.ack", ack
    state = await entry_in_history(alice, timeline.room_id, target["id"])
    assert [r["emoji"] for r in state["reactions"]] == FACES[:20], state
    assert state["reactions"][0]["count"] == 2
    assert state["reactions"][0]["user_ids"] == [bob.id, carol.id]


async def test_a_client_msg_id_used_again_for_other_content_is_refused(
    trio: list[User], timeline: Timeline
) -> None:
    _alice, bob, _carol = trio
    target = await bob.send_rest(timeline.room_id, "reuse test")
    room_id = timeline.room_id
    # REST: the same send again is the same entry (200); other content is 409.
    cmid = str(uuid.uuid4())
    first = created(await rest(bob, room_id, "reaction", target["id"], cmid=cmid))
    again = await rest(bob, room_id, "reaction", target["id"], cmid=cmid)
    assert again.status_code == 200, again.text
    assert again.json()["message"]["id"] == first["id"]
    for kind, fields in (
        ("reaction", {"emoji": FACES[0]}),  # another emoji
        ("reaction", {"added": False}),  # a removal
        ("edit", {"text": "reuse test, edited"}),  # another kind
        ("text", {"text": "plain"}),
    ):
        r = await rest(
            bob, room_id, kind, target["id"] if kind != "text" else None, cmid=cmid, **fields
        )
        assert_problem(r, 409, "client_msg_id_reused")
    # The id of a text message cannot become an edit.
    edit = await rest(bob, room_id, "edit", target["id"], cmid=target["client_msg_id"], text="x")
    assert_problem(edit, 409, "client_msg_id_reused")
    # WebSocket: the same. (A repeat is answered twice, `created` again and `accepted`, and the
    # gateway acks on the first: the repeat comes last, so no later send of this id can be
    # matched with its second answer.)
    async with bob.socket() as socket:
        ws_cmid = str(uuid.uuid4())
        ack = await ws(socket, room_id, "edit", target["id"], cmid=ws_cmid, text="edited once")
        assert ack["type"] == "message.ack", ack
        other = await ws(socket, room_id, "edit", target["id"], cmid=ws_cmid, text="edited twice")
        assert (other["type"], other.get("code")) == ("error", "client_msg_id_reused"), other
        as_text = await ws(socket, room_id, "reaction", target["id"], cmid=target["client_msg_id"])
        assert (as_text["type"], as_text.get("code")) == ("error", "client_msg_id_reused"), as_text
        repeat = await ws(socket, room_id, "edit", target["id"], cmid=ws_cmid, text="edited once")
        assert repeat["type"] == "message.ack", repeat
        assert repeat["message"]["id"] == ack["message"]["id"]


# --- what is allowed -----------------------------------------------------------------------------


async def test_edit_react_and_delete_over_rest(trio: list[User], timeline: Timeline) -> None:
    alice, bob, carol = trio
    room_id = timeline.room_id
    target = await bob.send_rest(room_id, "tpyo")
    edit = created(await rest(bob, room_id, "edit", target["id"], text="typo fixed"))
    assert (edit["kind"], edit["target_id"], edit["text"], edit["sender_id"]) == (
        "edit",
        target["id"],
        "typo fixed",
        bob.id,
    )
    assert edit["seq"] > target["seq"]
    reaction = created(await rest(carol, room_id, "reaction", target["id"], emoji=THUMBS_UP))
    assert (reaction["kind"], reaction["target_id"], reaction["emoji"]) == (
        "reaction",
        target["id"],
        THUMBS_UP,
    )
    state = await entry_in_history(carol, room_id, target["id"])
    assert state["text"] == "typo fixed"
    assert state["edited_at"] is not None
    assert state["deleted"] is False
    assert state["state_seq"] == reaction["seq"]
    reactions = [(r["emoji"], r["count"], r["user_ids"], r["me"]) for r in state["reactions"]]
    assert reactions == [(THUMBS_UP, 1, [carol.id], True)]
    seen_by_alice = await entry_in_history(alice, room_id, target["id"])
    assert [r["me"] for r in seen_by_alice["reactions"]] == [False]
    edits = await alice.ok("GET", f"/v1/rooms/{room_id}/messages/{target['id']}/edits")
    assert [e["id"] for e in edits["edits"]] == [edit["id"]]

    removal = created(
        await rest(carol, room_id, "reaction", target["id"], emoji=THUMBS_UP, added=False)
    )
    assert removal["added"] is False
    delete = created(await rest(bob, room_id, "delete", target["id"]))
    state = await entry_in_history(alice, room_id, target["id"])
    assert (state["text"], state["deleted"], state["reactions"]) == ("", True, [])
    assert state["state_seq"] == delete["seq"]


async def test_the_channel_creator_may_delete_anothers_message(
    trio: list[User], timeline: Timeline
) -> None:
    alice, bob, _ = trio
    room_id = timeline.room_id
    over_rest = await bob.send_rest(room_id, "off-topic 1")
    over_ws = await bob.send_rest(room_id, "off-topic 2")
    delete = created(await rest(alice, room_id, "delete", over_rest["id"]))
    assert (delete["sender_id"], delete["target_id"]) == (alice.id, over_rest["id"])
    async with alice.socket() as socket:
        ack = await ws(socket, room_id, "delete", over_ws["id"])
        assert ack["type"] == "message.ack", ack
        assert ack["message"]["sender_id"] == alice.id
    for message_id in (over_rest["id"], over_ws["id"]):
        state = await entry_in_history(bob, room_id, message_id)
        assert (state["text"], state["deleted"]) == ("", True), state


async def test_entries_over_websocket_ack_the_sender_and_reach_the_others(
    trio: list[User], timeline: Timeline
) -> None:
    alice, _bob, carol = trio
    room_id = timeline.room_id
    target = await alice.send_rest(room_id, "hello all")
    async with alice.socket() as alice_ws, carol.socket() as carol_ws:
        # Carol reacts: acked to her (not to Alice, whose message it is), seen by Alice.
        cmid = str(uuid.uuid4())
        ack = await ws(carol_ws, room_id, "reaction", target["id"], cmid=cmid)
        assert ack["type"] == "message.ack", ack
        assert "noop" not in ack or ack["noop"] is False
        reaction = ack["message"]
        assert (reaction["kind"], reaction["sender_id"], reaction["target_id"]) == (
            "reaction",
            carol.id,
            target["id"],
        )
        seen = await alice_ws.wait_for(
            "message.new", lambda f: f["message"]["id"] == reaction["id"], timeout=WAIT_S
        )
        assert seen["message"] == reaction
        # Alice edits her message: acked to her, seen by Carol.
        edit = await ws(alice_ws, room_id, "edit", target["id"], text="hello everyone")
        assert edit["type"] == "message.ack", edit
        assert edit["message"]["text"] == "hello everyone"
        seen = await carol_ws.wait_for(
            "message.new", lambda f: f["message"]["id"] == edit["message"]["id"], timeout=WAIT_S
        )
        assert seen["message"]["kind"] == "edit"
        assert alice_ws.of_type("error") == carol_ws.of_type("error") == []


async def test_a_noop_reaction_is_acked_with_the_current_target(
    trio: list[User], timeline: Timeline
) -> None:
    alice, bob, _ = trio
    room_id = timeline.room_id
    target = await alice.send_rest(room_id, "noop target")
    async with alice.socket() as alice_ws, bob.socket() as bob_ws:
        added = await ws(bob_ws, room_id, "reaction", target["id"])
        assert added["type"] == "message.ack", added
        await alice_ws.wait_for(
            "message.new", lambda f: f["message"]["id"] == added["message"]["id"], timeout=WAIT_S
        )
        # The same reaction again: no entry; acked with noop and the current target.
        cmid = str(uuid.uuid4())
        noop = await ws(bob_ws, room_id, "reaction", target["id"], cmid=cmid)
        assert (noop["type"], noop.get("noop")) == ("message.ack", True), noop
        current = noop["message"]
        assert (current["id"], current["kind"], current["sender_id"]) == (
            target["id"],
            "text",
            alice.id,
        )
        assert current["state_seq"] == added["message"]["seq"]
        assert [(r["emoji"], r["user_ids"]) for r in current["reactions"]] == [
            (THUMBS_UP, [bob.id])
        ]
        # Its repeat gets the same answer; removing an emoji Bob does not have is a noop too.
        repeat = await ws(bob_ws, room_id, "reaction", target["id"], cmid=cmid)
        assert (repeat["type"], repeat.get("noop"), repeat["message"]["id"]) == (
            "message.ack",
            True,
            target["id"],
        )
        absent = await ws(bob_ws, room_id, "reaction", target["id"], emoji=FACES[3], added=False)
        assert (absent["type"], absent.get("noop")) == ("message.ack", True), absent
        # No entry was made: the next text message follows the reaction directly.
        after = await ws(alice_ws, room_id, "text", None, text="next")
        assert after["message"]["seq"] == added["message"]["seq"] + 1
        assert not [
            f
            for f in alice_ws.of_type("message.new")
            if f["message"]["seq"] not in (added["message"]["seq"], after["message"]["seq"])
        ]
    # REST: 200 {message: target, noop: true}.
    r = await rest(bob, room_id, "reaction", target["id"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body.get("noop"), body["message"]["id"]) == (True, target["id"]), body
